//! metrics-apiserver: the Kubernetes resource metrics API (`metrics.k8s.io/v1beta1`).
//!
//! Stages, in the order data flows: [`cluster`] (which nodes and pods exist), [`scrape`] (kubelet
//! requests and decoders), [`store`] (RAM rings and rates), [`api`] (what clients see), with
//! [`auth`] around the API and [`server`] wiring it all. The simulated cluster for demos and tests
//! is the `metrics-apiserver-sim` crate; the server never depends on it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod cluster;
pub mod compat;
pub mod config;
pub mod health;
pub mod scrape;
pub mod server;
pub mod store;
pub mod telemetry;
