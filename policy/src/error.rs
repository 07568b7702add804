//! Why a policy document was refused.
//!
//! Every variant's message is the one Amazon S3 sends in the `<Message>` of
//! its `400 MalformedPolicy` answer to PutBucketPolicy, so the gateway can
//! pass [`Error`]'s `Display` through unchanged. Where S3's wording was seen
//! in an answer recorded by others, the variant says so; the others follow
//! the same pattern and say what they are based on.

/// A policy document that cannot be used, with S3's words for why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The document is empty or does not begin with `{` (S3 checks the first
    /// byte before it parses anything, so leading white space is refused too).
    #[error("Policies must be valid JSON and the first byte must be '{{'")]
    NotJson,

    /// The document begins with `{` but is not well-formed JSON (invalid UTF-8,
    /// a syntax error, a number out of range, nesting deeper than 128).
    #[error("This policy contains invalid Json")]
    InvalidJson,

    /// The document is larger than [`crate::MAX_POLICY_SIZE`] bytes once its
    /// white space is removed, or its raw bytes are larger than
    /// [`crate::MAX_DOCUMENT_BYTES`].
    #[error("Normalized policy document exceeds the maximum allowed size of 20480 bytes")]
    TooLarge,

    /// Well-formed JSON that is not a policy: an element of the wrong JSON
    /// type (S3 answers this to `"Action": null`), both an element and its
    /// `Not` form, a name given twice in one object, an empty condition.
    #[error("Invalid policy syntax.")]
    Syntax,

    /// A member that is neither a policy element (at the top level) nor a
    /// statement element; the field's name as written.
    #[error("Unknown field {0}")]
    UnknownField(String),

    /// `Version` is present but is not `2012-10-17` or `2008-10-17`.
    #[error("The policy must contain a valid version string")]
    Version,

    /// The document has no `Statement`.
    #[error("Missing required field Statement")]
    MissingStatement,

    /// `Statement` is an empty array.
    #[error("Could not parse the policy: Statement is empty!")]
    EmptyStatement,

    /// A statement has no `Effect`.
    #[error("Missing required field Effect")]
    MissingEffect,

    /// A statement's `Effect` is neither `Allow` nor `Deny` (case matters); the
    /// value as written.
    #[error("Invalid effect: {0}")]
    Effect(String),

    /// A bucket policy statement has neither `Principal` nor `NotPrincipal`.
    #[error("Missing required field Principal")]
    MissingPrincipal,

    /// A user (identity) policy statement names a principal: such a policy
    /// applies to the user it is attached to. IAM's wording.
    #[error("Policy document should not specify a principal.")]
    PrincipalInIdentityPolicy,

    /// A principal that is not of a form S3 accepts: not `"*"`, an unknown
    /// principal type, a wildcard inside an ARN, a malformed account id or
    /// canonical id, or `NotPrincipal` with `Allow`.
    #[error("Invalid principal in policy")]
    Principal,

    /// A principal of a valid form that does not exist (the caller's lookup
    /// said so); the principal as written. S3 gives this the same message as
    /// [`Error::Principal`].
    #[error("Invalid principal in policy")]
    UnknownPrincipal(String),

    /// A statement has neither `Action` nor `NotAction`.
    #[error("Missing required field Action")]
    MissingAction,

    /// An action that is not `*` or `s3:` and a name (with `*` and `?` as
    /// wildcards) naming at least one S3 action.
    #[error("Policy has invalid action")]
    Action,

    /// A statement has neither `Resource` nor `NotResource`.
    #[error("Missing required field Resource")]
    MissingResource,

    /// A resource that is not an S3 ARN, or (in a bucket policy) names a
    /// bucket other than the policy's own, or is `*`.
    #[error("Policy has invalid resource")]
    Resource,

    /// An action of a bucket policy statement applies to none of the
    /// statement's resources (for example `s3:GetObject` on the bucket's ARN).
    #[error("Action does not apply to any resource(s) in statement")]
    ActionResourceMismatch,

    /// A condition operator that does not exist (names are case-sensitive);
    /// the operator as written.
    #[error("Invalid Condition type : {0}")]
    ConditionType(String),

    /// A condition key that is neither a known global (`aws:`) key nor a
    /// known S3 (`s3:`) key.
    #[error("Policy has an invalid condition key")]
    ConditionKey,

    /// A condition key that exists but applies to none of the statement's
    /// actions (`s3:prefix` with `s3:GetObject`).
    #[error("Conditions do not apply to combination of actions and resources in statement")]
    ConditionNotApplicable,

    /// An `IpAddress` or `NotIpAddress` value, or an `aws:SourceIp` value, that
    /// is not an IPv4 or IPv6 address or CIDR range.
    #[error("Invalid IP address in Conditions")]
    IpAddress,
}

/// The result of parsing a policy.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The S3 error code every policy fault is answered with (with HTTP 400).
    pub fn s3_code(&self) -> &'static str {
        "MalformedPolicy"
    }
}
