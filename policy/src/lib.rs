//! IAM's policy language for Shale: bucket policies and user policies,
//! read, checked and evaluated as Amazon S3 and IAM do.
//!
//! Owns: parsing a policy document (JSON, at most 20 KB normalized) into a
//! [`Policy`] with S3's `MalformedPolicy` messages for every fault
//! ([`Error`]); evaluating a policy against one [`Request`] (principal,
//! action, resource ARN, condition keys) to a [`Decision`]; combining the
//! decisions of every source (bucket policy, user policy, ACL) into a
//! [`Verdict`] with [`authorize`]; judging whether a bucket policy is public
//! ([`Policy::is_public`]); and the table of S3 actions with the resource
//! each applies to ([`actions`]).
//!
//! Depends on: nothing of Shale. Must never: do I/O of any kind (files,
//! network, clock: the caller puts `aws:CurrentTime` in the [`Context`]),
//! panic on any input, or decide by itself whether a principal exists (the
//! caller answers that through the lookup it passes to
//! [`parse_bucket_policy`]).
//!
//! ```
//! use shale_policy::{Caller, Context, Decision, Request, User, object_arn, parse_bucket_policy};
//!
//! let policy = parse_bucket_policy(
//!     br#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
//!          "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"}]}"#,
//!     "site",
//!     &|_| true,
//! )
//! .expect("a valid policy");
//! let resource = object_arn("site", "index.html");
//! let context = Context::new();
//! let request = Request { caller: &Caller::Anonymous, action: "s3:GetObject", resource: &resource, context: &context };
//! assert_eq!(policy.evaluate(&request), Decision::Allow);
//! assert!(policy.is_public());
//! ```

pub mod actions;
mod condition;
mod error;
mod evaluate;
pub mod fuzzing;
mod json;
mod keys;
mod parse;
mod pattern;
mod public;

pub use actions::{ACCOUNT_RESOURCE, ResourceKind, S3Action, bucket_arn, object_arn};
pub use condition::{Condition, Operator, SetQualifier};
pub use error::{Error, Result};
pub use evaluate::{Caller, Context, Decision, Request, User, Verdict, authorize};
pub use parse::{
    Effect, MAX_DOCUMENT_BYTES, MAX_POLICY_SIZE, Policy, PolicyKind, Principal, Statement, Version,
    parse_bucket_policy, parse_identity_policy,
};
