//! Tests of the `/metrics/resource` decoder: the kubelet fixtures (`fixtures`), agreement with
//! prometheus-parse (`differential`), the syntax it accepts (`syntax`) and the input it must
//! survive (`malformed`).

mod differential;
mod fixtures;
mod malformed;
mod syntax;

use super::decode_resource;
pub(super) use crate::scrape::decode::test_support::{fixture, pt};
use crate::scrape::decode::{ContainerRaw, Decoded};

const PROM_FIXTURES: [&str; 4] = [
    "metrics_resource_kind_k8s1.21_70pods.prom",
    "metrics_resource_single_pod_normal.prom",
    "metrics_resource_negative_timestamp_error.prom",
    "metrics_resource_modern_example.prom",
];

fn decode(body: &[u8]) -> Decoded<'_> {
    match decode_resource(body) {
        Ok(d) => d,
        Err(e) => panic!("decode failed: {e}"),
    }
}

fn find<'d, 'a>(d: &'d Decoded<'a>, ns: &str, pod: &str, c: &str) -> &'d ContainerRaw<'a> {
    d.containers
        .iter()
        .find(|x| x.namespace == ns && x.pod == pod && x.container == c)
        .unwrap_or_else(|| panic!("no container {ns}/{pod}/{c}"))
}

fn reasons(d: &Decoded<'_>) -> Vec<String> {
    d.skipped.iter().map(ToString::to_string).collect()
}

/// Deterministic LCG (Knuth's MMIX constants) so the generated body is stable.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}
