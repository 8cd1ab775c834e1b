//! The two implementations of every port.
//!
//! `local` runs on one machine with no cloud at all (SQLite, a key file, plain files);
//! `aws` runs on DynamoDB, SQS, KMS and S3. Both pass the same contract suites. `denied`
//! stands in for a service a Lambda function's role may not call.

#[cfg(feature = "aws")]
pub mod aws;
pub mod denied;
#[cfg(feature = "local")]
pub mod local;
