//! Transport security and, later, delegated authentication and authorization.

pub mod tls;
