//! The two implementations of every port.
//!
//! `local` runs on one machine with no cloud at all (SQLite, a key file, plain files);
//! `aws` runs on DynamoDB, SQS, KMS and S3. Both pass the same contract suites.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "local")]
pub mod local;
