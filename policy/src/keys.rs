//! The condition keys a Shale policy may test: AWS's global keys (`aws:`)
//! and Amazon S3's own (`s3:`), from IAM's "AWS global condition context
//! keys" and the S3 part of the Service Authorization Reference. A key
//! outside these is refused ("Policy has an invalid condition key", which
//! S3 answers for `s3:VersionStatus`), so a typo cannot silently turn a
//! condition into one that never holds.
//!
//! Key names are case-insensitive; every name here is lowercase, and so is
//! every name looked up.

use crate::actions::S3Action;

/// Global keys, lowercase.
const GLOBAL: &[&str] = &[
    "aws:calledvia",
    "aws:calledviafirst",
    "aws:calledvialast",
    "aws:currenttime",
    "aws:epochtime",
    "aws:federatedprovider",
    "aws:multifactorauthage",
    "aws:multifactorauthpresent",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalisawsservice",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalservicename",
    "aws:principalservicenameslist",
    "aws:principaltype",
    "aws:referer",
    "aws:requestedregion",
    "aws:resourceaccount",
    "aws:resourceorgid",
    "aws:resourceorgpaths",
    "aws:securetransport",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceidentity",
    "aws:sourceip",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourceowner",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:tagkeys",
    "aws:tokenissuetime",
    "aws:useragent",
    "aws:userid",
    "aws:username",
    "aws:viaawsservice",
    "aws:vpcsourceip",
];

/// Global keys that name a tag after a `/`.
const GLOBAL_TAGGED: &[&str] = &["aws:principaltag/", "aws:requesttag/", "aws:resourcetag/"];

/// Amazon S3's keys, lowercase.
const S3: &[&str] = &[
    "s3:accesspointnetworkorigin",
    "s3:authtype",
    "s3:dataaccesspointaccount",
    "s3:dataaccesspointarn",
    "s3:delimiter",
    "s3:if-match",
    "s3:if-none-match",
    "s3:locationconstraint",
    "s3:max-keys",
    "s3:object-lock-legal-hold",
    "s3:object-lock-mode",
    "s3:object-lock-remaining-retention-days",
    "s3:object-lock-retain-until-date",
    "s3:objectcreationoperation",
    "s3:prefix",
    "s3:requestobjecttagkeys",
    "s3:resourceaccount",
    "s3:signatureage",
    "s3:signatureversion",
    "s3:tlsversion",
    "s3:versionid",
    "s3:x-amz-acl",
    "s3:x-amz-content-sha256",
    "s3:x-amz-copy-source",
    "s3:x-amz-grant-full-control",
    "s3:x-amz-grant-read",
    "s3:x-amz-grant-read-acp",
    "s3:x-amz-grant-write",
    "s3:x-amz-grant-write-acp",
    "s3:x-amz-metadata-directive",
    "s3:x-amz-object-ownership",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-server-side-encryption-customer-algorithm",
    "s3:x-amz-storage-class",
    "s3:x-amz-website-redirect-location",
];

/// S3 keys that name a tag after a `/`.
const S3_TAGGED: &[&str] = &["s3:existingobjecttag/", "s3:requestobjecttag/"];

/// Whether `key` (lowercase) is a condition key a policy may test.
pub(crate) fn is_known(key: &str) -> bool {
    GLOBAL.binary_search(&key).is_ok()
        || S3.binary_search(&key).is_ok()
        || GLOBAL_TAGGED
            .iter()
            .chain(S3_TAGGED)
            .any(|prefix| key.strip_prefix(prefix).is_some_and(|tag| !tag.is_empty()))
}

/// Whether `key` (lowercase) can be used with every one of `actions` (the
/// statement's actions, when it names them without wildcards). The listing
/// keys exist only for ListBucket and ListBucketVersions (the Service
/// Authorization Reference), and S3 refuses `s3:prefix` with GetObject,
/// "Conditions do not apply to combination of actions and resources in
/// statement". Every other key is accepted with any action: where S3 has
/// finer rules, Shale does not claim to know them.
pub(crate) fn applies_to_all(key: &str, actions: &[&S3Action]) -> bool {
    match key {
        "s3:prefix" | "s3:delimiter" | "s3:max-keys" => actions
            .iter()
            .all(|a| a.name == "ListBucket" || a.name == "ListBucketVersions"),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_lists_are_sorted_and_lowercase_so_lookup_can_bisect() {
        for list in [GLOBAL, S3] {
            assert!(list.windows(2).all(|w| w[0] < w[1]));
            assert!(list.iter().all(|k| k.to_ascii_lowercase() == *k));
        }
    }

    #[test]
    fn tag_keys_need_a_tag_name() {
        assert!(is_known("s3:existingobjecttag/security"));
        assert!(is_known("aws:resourcetag/team"));
        assert!(!is_known("s3:existingobjecttag/"));
        assert!(!is_known("s3:versionstatus"));
        assert!(!is_known("custom:key"));
    }
}
