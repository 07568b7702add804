//! Patterns: the strings of a policy that are matched against a request,
//! with IAM's wildcards (`*` any run of characters, `/` included; `?` one
//! character) and policy variables (`${aws:username}`, `${key, 'default'}`,
//! and the escapes `${*}`, `${?}`, `${$}` for the literal characters).
//!
//! A pattern is parsed once, when the policy is; a variable is filled in
//! from each request. A variable the request has no value for (and no
//! default) leaves the pattern matching nothing: "a `Resource` holding a
//! variable with no value will not match any resource", and `StringEquals`
//! or `StringLike` "do not match" it (IAM's policy variables page). A
//! variable's value is always literal: a `*` in a user name is not a
//! wildcard.

use std::borrow::Cow;

/// One piece of a parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// A character matched as itself.
    Lit(char),
    /// `*`: any run of characters, empty included.
    Star,
    /// `?`: exactly one character.
    One,
    /// `${key}` or `${key, 'default'}`: the request's value of a condition key
    /// (its name lowercased, as key names are case-insensitive).
    Var {
        key: String,
        default: Option<String>,
    },
}

/// A resolved piece: what matching works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(char),
    Star,
    One,
}

/// A pattern as parsed from a policy string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    /// The string as written in the policy.
    pub(crate) raw: String,
    pieces: Vec<Piece>,
    /// The tokens when the pattern holds no variable: resolved once, at parse.
    fixed: Option<Vec<Tok>>,
    /// The literal characters before the first wildcard or variable: an
    /// input that does not start with them is refused at once, by a byte
    /// comparison (most resources of a policy differ from a request's early).
    prefix: String,
}

impl Pattern {
    /// Parses `raw`. `wildcards`: whether `*` and `?` are wildcards (they are in
    /// resources, actions and the `...Like` and `Arn...` operators; elsewhere
    /// they are literal). `variables`: whether `${...}` is a policy variable
    /// (only under Version `2012-10-17`, and only where IAM allows variables).
    pub(crate) fn parse(raw: &str, wildcards: bool, variables: bool) -> Pattern {
        let mut pieces = Vec::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(c) = rest.chars().next() {
            if variables
                && rest.starts_with("${")
                && let Some((piece, used)) = variable(rest)
            {
                pieces.push(piece);
                rest = &rest[used..];
                continue;
            }
            pieces.push(match c {
                '*' if wildcards => Piece::Star,
                '?' if wildcards => Piece::One,
                c => Piece::Lit(c),
            });
            rest = &rest[c.len_utf8()..];
        }
        let fixed = if pieces.iter().any(|p| matches!(p, Piece::Var { .. })) {
            None
        } else {
            Some(
                pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Lit(c) => Tok::Lit(*c),
                        Piece::Star => Tok::Star,
                        _ => Tok::One,
                    })
                    .collect(),
            )
        };
        let prefix = pieces
            .iter()
            .map_while(|p| match p {
                Piece::Lit(c) => Some(*c),
                _ => None,
            })
            .collect();
        Pattern {
            raw: raw.to_owned(),
            pieces,
            fixed,
            prefix,
        }
    }

    /// Whether the pattern holds a wildcard (outside any variable's value).
    pub(crate) fn has_wildcards(&self) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Star | Piece::One))
    }

    /// The tokens with every variable filled in by `lookup` (which gets the
    /// lowercased key name), or `None` when a variable has no value and no
    /// default: such a pattern matches nothing.
    pub(crate) fn resolve<'a>(
        &'a self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Cow<'a, [Tok]>> {
        if let Some(fixed) = &self.fixed {
            return Some(Cow::Borrowed(fixed));
        }
        let mut toks = Vec::with_capacity(self.pieces.len());
        for piece in &self.pieces {
            match piece {
                Piece::Lit(c) => toks.push(Tok::Lit(*c)),
                Piece::Star => toks.push(Tok::Star),
                Piece::One => toks.push(Tok::One),
                Piece::Var { key, default } => {
                    let value = lookup(key).or_else(|| default.clone())?;
                    toks.extend(value.chars().map(Tok::Lit));
                }
            }
        }
        Some(Cow::Owned(toks))
    }

    /// The pattern as a plain string (for the operators without wildcards),
    /// variables filled in; `None` when a variable has no value.
    pub(crate) fn resolve_string(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        let toks = self.resolve(lookup)?;
        Some(
            toks.iter()
                .map(|t| match t {
                    Tok::Lit(c) => *c,
                    Tok::Star => '*',
                    Tok::One => '?',
                })
                .collect(),
        )
    }

    /// The literal characters before the first wildcard or variable.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether `input` matches, variables filled in by `lookup`.
    pub(crate) fn matches(&self, input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> bool {
        if !input.starts_with(self.prefix.as_str()) {
            return false;
        }
        match self.resolve(lookup) {
            Some(toks) => glob(&toks, input),
            None => false,
        }
    }
}

/// Reads the variable at the start of `text` (which starts with `${`): the
/// piece and the bytes it used, or `None` when it is not a well-formed
/// variable (then `${` is literal text).
fn variable(text: &str) -> Option<(Piece, usize)> {
    let close = text.find('}')?;
    let inner = &text[2..close];
    let piece = match inner {
        "*" => Piece::Lit('*'),
        "?" => Piece::Lit('?'),
        "$" => Piece::Lit('$'),
        _ => {
            let (key, default) = match inner.split_once(',') {
                None => (inner.trim(), None),
                Some((key, default)) => {
                    let default = default.trim();
                    let quoted = default
                        .strip_prefix('\'')
                        .and_then(|d| d.strip_suffix('\''))
                        .filter(|d| !d.contains('\''))?;
                    (key.trim(), Some(quoted.to_owned()))
                }
            };
            let valid = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_:/.+=@".contains(c));
            if !valid {
                return None;
            }
            Piece::Var {
                key: key.to_ascii_lowercase(),
                default,
            }
        }
    };
    Some((piece, close + 1))
}

/// Whether `input` matches `pattern`: `*` any run of characters, `?` one.
/// Greedy with one backtrack point, so O(len(pattern) × len(input)) at worst,
/// and it walks `input` in place (no copy: this runs for every resource of
/// every statement of every request).
pub(crate) fn glob(pattern: &[Tok], input: &str) -> bool {
    let (mut p, mut i) = (0, 0);
    // The last `*` seen, and where in `input` it would next resume.
    let mut star: Option<(usize, usize)> = None;
    while let Some(c) = input[i..].chars().next() {
        match pattern.get(p) {
            Some(Tok::Lit(l)) if *l == c => {
                p += 1;
                i += c.len_utf8();
            }
            Some(Tok::One) => {
                p += 1;
                i += c.len_utf8();
            }
            Some(Tok::Star) => {
                star = Some((p, i));
                p += 1;
            }
            _ => {
                // Let the last `*` swallow one more character and retry.
                let Some((sp, si)) = star else { return false };
                let Some(swallowed) = input[si..].chars().next() else {
                    return false;
                };
                let resume = si + swallowed.len_utf8();
                p = sp + 1;
                i = resume;
                star = Some((sp, resume));
            }
        }
    }
    pattern[p..].iter().all(|t| *t == Tok::Star)
}

/// Splits resolved tokens at literal `:` into at most six components, the
/// last keeping the rest (an ARN's resource part may hold colons).
pub(crate) fn arn_components(toks: &[Tok]) -> Vec<&[Tok]> {
    let mut parts = Vec::with_capacity(6);
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        if parts.len() == 5 {
            break;
        }
        if *t == Tok::Lit(':') {
            parts.push(&toks[start..i]);
            start = i + 1;
        }
    }
    parts.push(&toks[start..]);
    parts
}

/// Whether `input` matches `pattern` as ARN operators match: both must have
/// six colon-separated components, and each is matched separately, so a `*`
/// never crosses a colon (except inside the last component).
pub(crate) fn arn_match(pattern: &[Tok], input: &str) -> bool {
    let pattern_parts = arn_components(pattern);
    let input_parts: Vec<&str> = input.splitn(6, ':').collect();
    pattern_parts.len() == 6
        && input_parts.len() == 6
        && pattern_parts
            .iter()
            .zip(&input_parts)
            .all(|(p, i)| glob(p, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn user(key: &str) -> Option<String> {
        (key == "aws:username").then(|| "alice".to_owned())
    }

    #[test]
    fn star_matches_any_run_slashes_included() {
        let p = Pattern::parse("arn:aws:s3:::b/*/test/*", true, false);
        assert!(p.matches("arn:aws:s3:::b/1///test///object.jpg", &none));
        assert!(p.matches("arn:aws:s3:::b//test/object.jpg", &none));
        assert!(p.matches("arn:aws:s3:::b/1/test/", &none));
        assert!(!p.matches("arn:aws:s3:::b/1-test/object.jpg", &none));
        assert!(!p.matches("arn:aws:s3:::b/test/object.jpg", &none));
        assert!(!p.matches("arn:aws:s3:::b/1/2/test.jpg", &none));
    }

    #[test]
    fn question_mark_matches_exactly_one_character() {
        let p = Pattern::parse("a?c", true, false);
        assert!(p.matches("abc", &none));
        assert!(p.matches("aéc", &none));
        assert!(!p.matches("ac", &none));
        assert!(!p.matches("abbc", &none));
    }

    #[test]
    fn without_wildcards_star_is_literal() {
        let p = Pattern::parse("a*", false, false);
        assert!(p.matches("a*", &none));
        assert!(!p.matches("ab", &none));
    }

    #[test]
    fn variables_are_filled_in_and_their_values_are_literal() {
        let p = Pattern::parse("home/${aws:username}/*", true, true);
        assert!(p.matches("home/alice/x", &user));
        assert!(!p.matches("home/bob/x", &user));
        let star = |_: &str| Some("*".to_owned());
        assert!(!p.matches("home/bob/x", &star));
        assert!(p.matches("home/*/x", &star));
    }

    #[test]
    fn a_variable_without_a_value_matches_nothing_unless_it_has_a_default() {
        let p = Pattern::parse("home/${aws:username}/*", true, true);
        assert!(!p.matches("home//x", &none));
        let d = Pattern::parse("home/${aws:username, 'guest'}/*", true, true);
        assert!(d.matches("home/guest/x", &none));
    }

    #[test]
    fn escapes_stand_for_the_literal_characters() {
        let p = Pattern::parse("a${*}b${?}c${$}", true, true);
        assert!(p.matches("a*b?c$", &none));
        assert!(!p.matches("aXb?c$", &none));
    }

    #[test]
    fn under_the_old_version_a_variable_is_literal_text() {
        let p = Pattern::parse("${aws:username}", true, false);
        assert!(p.matches("${aws:username}", &user));
        assert!(!p.matches("alice", &user));
    }

    #[test]
    fn an_unclosed_variable_is_literal_text() {
        let p = Pattern::parse("a${aws:username", true, true);
        assert!(p.matches("a${aws:username", &user));
    }

    #[test]
    fn arn_wildcards_do_not_cross_colons() {
        let p = Pattern::parse("arn:aws:someservice:*:111122223333:finance/*", true, false);
        let toks = p.resolve(&none).expect("fixed");
        assert!(!arn_match(
            &toks,
            "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
        ));
        assert!(arn_match(
            &toks,
            "arn:aws:someservice:us-east-2:111122223333:finance/a:b"
        ));
        assert!(glob(
            &toks,
            "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
        ));
    }
}
