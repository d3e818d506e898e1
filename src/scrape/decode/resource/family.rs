//! The five metric families metrics-server reads (seven with swap), matched by exact name.

use crate::scrape::decode::ContainerField;

/// The metric families this decoder keeps; everything else is only syntax-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    Node(NodeField),
    Container(ContainerField),
}

/// Which of the node's own families a series belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NodeField {
    Cpu,
    Memory,
    Swap,
}

impl Family {
    /// Exact-name match: `container_cpu_usage_seconds_total_foo` is another family.
    pub(super) fn from_name(name: &[u8]) -> Option<Family> {
        Some(match name {
            b"container_cpu_usage_seconds_total" => Family::Container(ContainerField::Cpu),
            b"container_memory_working_set_bytes" => Family::Container(ContainerField::Memory),
            b"container_start_time_seconds" => Family::Container(ContainerField::Start),
            b"container_swap_usage_bytes" => Family::Container(ContainerField::Swap),
            b"node_cpu_usage_seconds_total" => Family::Node(NodeField::Cpu),
            b"node_memory_working_set_bytes" => Family::Node(NodeField::Memory),
            b"node_swap_usage_bytes" => Family::Node(NodeField::Swap),
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Family::Node(NodeField::Cpu) => "node_cpu_usage_seconds_total",
            Family::Node(NodeField::Memory) => "node_memory_working_set_bytes",
            Family::Node(NodeField::Swap) => "node_swap_usage_bytes",
            Family::Container(ContainerField::Cpu) => "container_cpu_usage_seconds_total",
            Family::Container(ContainerField::Memory) => "container_memory_working_set_bytes",
            Family::Container(ContainerField::Start) => "container_start_time_seconds",
            Family::Container(ContainerField::Swap) => "container_swap_usage_bytes",
        }
    }
}
