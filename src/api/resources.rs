//! Routes of NodeMetrics and PodMetrics: list, get and watch, for every served version.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::ApiState;
use super::kind::Kind;
use super::list;
use super::query::ListQuery;
use super::status::ApiError;
use super::types::{GROUP, GroupVersion};
use super::watch;
use crate::store::{NodeObject, PodObject};

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

fn respond<T: Serialize>(value: &T, pretty: bool) -> Result<HttpResponse, ApiError> {
    let body = if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    };
    let body = body.map_err(|e| ApiError::internal(format!("encoding the response: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-cache, private"))
        .body(body))
}

/// A collection path: list, or watch when asked (`?watch=true` or the `/watch/` path form).
async fn collection<T: Kind>(
    req: &HttpRequest,
    state: &ApiState,
    gv: GroupVersion,
    namespace: Option<&str>,
    watch_path: Option<Option<&str>>,
) -> Result<HttpResponse, ApiError> {
    let mut q = ListQuery::parse(req.query_string())?;
    if let Some(Some(name)) = watch_path {
        q.require_name(name)?;
    }
    // A pod list narrowed to one namespace by the field selector reads only that namespace.
    let namespace = namespace.or_else(|| {
        if T::NAMESPACED {
            q.fields.required_namespace()
        } else {
            None
        }
    });
    let log = state.store.log();
    if q.watch || watch_path.is_some() {
        return watch::serve::<T>(log, &state.watchers, &q, gv, namespace).await;
    }
    let (snap, start, before) = list::resolve::<T>(log, &q).await?;
    let page = list::page(&snap, &q, namespace, start, before);
    respond(&list::document(snap.rv, &page, gv), wants_pretty(req, &q))
}

async fn node_get(
    req: &HttpRequest,
    state: &ApiState,
    gv: GroupVersion,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    let q = ListQuery::parse(req.query_string())?;
    if state.index.node(name).is_none() {
        return Err(ApiError::not_found("node", None, name));
    }
    let v = state
        .store
        .node(name)
        .ok_or_else(|| ApiError::not_found("nodemetrics", Some(GROUP), name))?;
    respond(&v.value.wire(v.rv, gv, true), wants_pretty(req, &q))
}

async fn pod_get(
    req: &HttpRequest,
    state: &ApiState,
    gv: GroupVersion,
    ns: &str,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    let q = ListQuery::parse(req.query_string())?;
    if state.index.with_pod(ns, name, |_| ()).is_none() {
        return Err(ApiError::not_found("pods", None, name));
    }
    let v = state
        .store
        .pod(ns, name)
        .ok_or_else(|| ApiError::not_found("podmetrics", Some(GROUP), &format!("{ns}/{name}")))?;
    respond(&v.value.wire(v.rv, gv, true), wants_pretty(req, &q))
}

/// Registers the resource routes of one version.
pub fn configure_version(cfg: &mut web::ServiceConfig, gv: GroupVersion) {
    let p = format!("/apis/{GROUP}/{}", gv.version);
    cfg.route(
        &format!("{p}/nodes"),
        web::get().to(move |req: HttpRequest, s: web::Data<ApiState>| async move {
            collection::<NodeObject>(&req, &s, gv, None, None).await
        }),
    )
    .route(
        &format!("{p}/nodes/{{name}}"),
        web::get().to(
            move |req: HttpRequest, s: web::Data<ApiState>, path: web::Path<String>| async move {
                node_get(&req, &s, gv, &path).await
            },
        ),
    )
    .route(
        &format!("{p}/pods"),
        web::get().to(move |req: HttpRequest, s: web::Data<ApiState>| async move {
            collection::<PodObject>(&req, &s, gv, None, None).await
        }),
    )
    .route(
        &format!("{p}/namespaces/{{ns}}/pods"),
        web::get().to(
            move |req: HttpRequest, s: web::Data<ApiState>, path: web::Path<String>| async move {
                collection::<PodObject>(&req, &s, gv, Some(&path), None).await
            },
        ),
    )
    .route(
        &format!("{p}/namespaces/{{ns}}/pods/{{name}}"),
        web::get().to(
            move |req: HttpRequest,
                  s: web::Data<ApiState>,
                  path: web::Path<(String, String)>| async move {
                pod_get(&req, &s, gv, &path.0, &path.1).await
            },
        ),
    )
    // The deprecated `/watch/` path forms: always a watch; a name is a metadata.name selector.
    .route(
        &format!("{p}/watch/nodes"),
        web::get().to(move |req: HttpRequest, s: web::Data<ApiState>| async move {
            collection::<NodeObject>(&req, &s, gv, None, Some(None)).await
        }),
    )
    .route(
        &format!("{p}/watch/nodes/{{name}}"),
        web::get().to(
            move |req: HttpRequest, s: web::Data<ApiState>, path: web::Path<String>| async move {
                collection::<NodeObject>(&req, &s, gv, None, Some(Some(&path))).await
            },
        ),
    )
    .route(
        &format!("{p}/watch/pods"),
        web::get().to(move |req: HttpRequest, s: web::Data<ApiState>| async move {
            collection::<PodObject>(&req, &s, gv, None, Some(None)).await
        }),
    )
    .route(
        &format!("{p}/watch/namespaces/{{ns}}/pods"),
        web::get().to(
            move |req: HttpRequest, s: web::Data<ApiState>, path: web::Path<String>| async move {
                collection::<PodObject>(&req, &s, gv, Some(&path), Some(None)).await
            },
        ),
    )
    .route(
        &format!("{p}/watch/namespaces/{{ns}}/pods/{{name}}"),
        web::get().to(
            move |req: HttpRequest,
                  s: web::Data<ApiState>,
                  path: web::Path<(String, String)>| async move {
                collection::<PodObject>(&req, &s, gv, Some(&path.0), Some(Some(&path.1))).await
            },
        ),
    );
}
