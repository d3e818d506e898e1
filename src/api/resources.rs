//! List and get of NodeMetrics and PodMetrics: store snapshots joined with the cluster index.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::ApiState;
use super::quantity::{format_cpu_nanocores, format_go_duration_ms, format_memory_bytes};
use super::query::ListQuery;
use super::status::ApiError;
use super::types::{
    API_VERSION, ContainerMetrics, GROUP, LabelsRef, List, ListMeta, NodeMetrics, ObjectMeta,
    PodMetrics, ResourceList, rfc3339_seconds,
};
use crate::cluster::PodPhase;
use crate::scrape::now_ms;
use crate::store::{NodeSnapshot, PodSnapshot, Usage};

fn usage(u: &Usage) -> ResourceList {
    ResourceList {
        cpu: format_cpu_nanocores(u.cpu_nanocores),
        memory: format_memory_bytes(u.memory_bytes),
    }
}

fn created(s: i64) -> Option<String> {
    (s > 0).then(|| rfc3339_seconds(s * 1000))
}

/// Pretty output for `?pretty` and for the user agents Go pretty-prints for.
fn wants_pretty(req: &HttpRequest, q: &ListQuery) -> bool {
    q.pretty
        || req
            .headers()
            .get("User-Agent")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| {
                ["curl", "Wget", "Mozilla/5.0"]
                    .iter()
                    .any(|p| ua.starts_with(p))
            })
}

fn respond<T: Serialize>(value: &T, pretty: bool) -> HttpResponse {
    let body = if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    };
    match body {
        Ok(b) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header(("Cache-Control", "no-cache, private"))
            .body(b),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

fn watch_unsupported(resource: &'static str) -> ApiError {
    ApiError {
        code: 405,
        reason: "MethodNotAllowed",
        message: format!("watch is not supported on resources of kind \"{resource}.{GROUP}\""),
        details: Some(super::status::Details {
            name: None,
            group: Some(GROUP),
            kind: Some(resource),
        }),
    }
}

fn node_object<'a>(
    snap: &'a NodeSnapshot,
    labels: &'a [(Box<str>, Box<str>)],
    created_s: i64,
    single: bool,
) -> NodeMetrics<'a> {
    NodeMetrics {
        kind: single.then_some("NodeMetrics"),
        api_version: single.then_some(API_VERSION),
        metadata: ObjectMeta {
            name: &snap.name,
            namespace: None,
            resource_version: snap.resource_version.to_string(),
            creation_timestamp: created(created_s),
            labels: LabelsRef(labels),
        },
        timestamp: rfc3339_seconds(snap.usage.timestamp_ms),
        window: format_go_duration_ms(snap.usage.window_ms.max(0) as u64),
        usage: usage(&snap.usage),
    }
}

fn pod_object<'a>(
    snap: &'a PodSnapshot,
    labels: &'a [(Box<str>, Box<str>)],
    created_s: i64,
    single: bool,
) -> PodMetrics<'a> {
    PodMetrics {
        kind: single.then_some("PodMetrics"),
        api_version: single.then_some(API_VERSION),
        metadata: ObjectMeta {
            name: &snap.name,
            namespace: Some(&snap.namespace),
            resource_version: snap.resource_version.to_string(),
            creation_timestamp: created(created_s),
            labels: LabelsRef(labels),
        },
        timestamp: rfc3339_seconds(snap.timestamp_ms),
        window: format_go_duration_ms(snap.window_ms.max(0) as u64),
        containers: snap
            .containers
            .iter()
            .map(|(name, u)| ContainerMetrics {
                name,
                usage: usage(u),
            })
            .collect(),
    }
}

/// `GET /apis/metrics.k8s.io/v1beta1/nodes`
pub async fn list_nodes(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let q = ListQuery::parse(req.query_string())?;
    if q.watch {
        return Err(watch_unsupported("nodes"));
    }
    let resource_version = state.store.resource_version();
    let now = now_ms();
    let snaps = match q.fields.required_name() {
        Some(name) => state.store.node(name, now).into_iter().collect(),
        None => state.store.nodes(now),
    };
    let mut rows = Vec::with_capacity(snaps.len());
    for snap in &snaps {
        let Some(info) = state.index.node(&snap.name) else {
            continue;
        };
        let labels = info.labels.iter().map(|(k, v)| (k.as_ref(), v.as_ref()));
        if q.labels.matches(labels) && q.fields.matches(&snap.name, None) {
            rows.push((snap, info));
        }
    }
    rows.sort_unstable_by(|a, b| a.0.name.cmp(&b.0.name));
    let items = rows
        .iter()
        .map(|(snap, info)| node_object(snap, &info.labels, info.created_s, false))
        .collect();
    let list = List {
        kind: "NodeMetricsList",
        api_version: API_VERSION,
        metadata: ListMeta {
            resource_version: resource_version.to_string(),
        },
        items,
    };
    Ok(respond(&list, wants_pretty(&req, &q)))
}

/// `GET /apis/metrics.k8s.io/v1beta1/nodes/{name}`
pub async fn get_node(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let q = ListQuery::parse(req.query_string())?;
    let name = path.into_inner();
    let info = state
        .index
        .node(&name)
        .ok_or_else(|| ApiError::not_found("node", None, &name))?;
    let snap = state
        .store
        .node(&name, now_ms())
        .ok_or_else(|| ApiError::not_found("nodemetrics", Some(GROUP), &name))?;
    let obj = node_object(&snap, &info.labels, info.created_s, true);
    Ok(respond(&obj, wants_pretty(&req, &q)))
}

fn list_pods_in(
    req: &HttpRequest,
    state: &ApiState,
    namespace: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let q = ListQuery::parse(req.query_string())?;
    if q.watch {
        return Err(watch_unsupported("pods"));
    }
    let resource_version = state.store.resource_version();
    let now = now_ms();
    let namespace = match (namespace, q.fields.required_namespace()) {
        (Some(ns), _) => Some(ns),
        (None, Some(ns)) => Some(ns),
        (None, None) => None,
    };
    let snaps = match (namespace, q.fields.required_name()) {
        (Some(ns), Some(name)) => state.store.pod(ns, name, now).into_iter().collect(),
        _ => state.store.pods(namespace, now),
    };
    let mut rows = Vec::with_capacity(snaps.len());
    for snap in snaps {
        let meta = state.index.with_pod(&snap.namespace, &snap.name, |p| {
            let labels = p.labels.iter().map(|(k, v)| (k.as_ref(), v.as_ref()));
            let selected = p.phase == PodPhase::Running
                && q.labels.matches(labels)
                && q.fields.matches(&snap.name, Some(&snap.namespace));
            selected.then(|| (p.labels.clone(), p.created_s))
        });
        if let Some(Some((labels, created_s))) = meta {
            rows.push((snap, labels, created_s));
        }
    }
    rows.sort_unstable_by(|a, b| (&a.0.namespace, &a.0.name).cmp(&(&b.0.namespace, &b.0.name)));
    let items = rows
        .iter()
        .map(|(snap, labels, created_s)| pod_object(snap, labels, *created_s, false))
        .collect();
    let list = List {
        kind: "PodMetricsList",
        api_version: API_VERSION,
        metadata: ListMeta {
            resource_version: resource_version.to_string(),
        },
        items,
    };
    Ok(respond(&list, wants_pretty(req, &q)))
}

/// `GET /apis/metrics.k8s.io/v1beta1/pods`
pub async fn list_all_pods(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    list_pods_in(&req, &state, None)
}

/// `GET /apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods`
pub async fn list_namespace_pods(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    list_pods_in(&req, &state, Some(&path.into_inner()))
}

/// `GET /apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/{name}`
pub async fn get_pod(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let q = ListQuery::parse(req.query_string())?;
    let (ns, name) = path.into_inner();
    let meta = state
        .index
        .with_pod(&ns, &name, |p| (p.labels.clone(), p.created_s, p.phase))
        .ok_or_else(|| ApiError::not_found("pods", None, &name))?;
    let qualified = format!("{ns}/{name}");
    let snap = state
        .store
        .pod(&ns, &name, now_ms())
        .filter(|_| meta.2 == PodPhase::Running)
        .ok_or_else(|| ApiError::not_found("podmetrics", Some(GROUP), &qualified))?;
    let obj = pod_object(&snap, &meta.0, meta.1, true);
    Ok(respond(&obj, wants_pretty(&req, &q)))
}
