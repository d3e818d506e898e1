//! Routes of NodeMetrics and PodMetrics: list, get and watch, for every served version.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::kind::Kind;
use super::negotiate::{Endpoint, Media, Output, Shape, negotiate};
use super::query::ListQuery;
use super::status::{ApiError, answer};
use super::table::{self, IncludeObject};
use super::types::{GROUP, GroupVersion};
use super::watch::{self, EventForm};
use super::{ApiState, get_or_head, list, proto, yaml};
use crate::store::{NodeObject, PodObject, Versioned};

/// Pretty output for `?pretty`, the `pretty=1` media-type parameter, and the user agents Go
/// pretty-prints for.
fn wants_pretty(req: &HttpRequest, q: &ListQuery, out: Output) -> bool {
    q.pretty
        || out.pretty
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

/// Encodes `value` in the negotiated media type; a failure is a 500 Status, never plain text.
pub fn respond<T: Serialize>(
    value: &T,
    media: Media,
    pretty: bool,
) -> Result<HttpResponse, ApiError> {
    let fail = |e: serde_json::Error| ApiError::internal(format!("encoding the response: {e}"));
    let body = match media {
        Media::Json if pretty => serde_json::to_vec_pretty(value).map_err(fail)?,
        Media::Json => serde_json::to_vec(value).map_err(fail)?,
        Media::Yaml => yaml::to_yaml(&serde_json::to_value(value).map_err(fail)?).into_bytes(),
        Media::Protobuf => {
            return Err(ApiError::internal(
                "encoding the response: no protobuf form for this document",
            ));
        }
    };
    Ok(HttpResponse::Ok()
        .content_type(media.content_type())
        .insert_header(("Cache-Control", "no-cache, private"))
        .body(body))
}

/// A protobuf body.
fn protobuf(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(proto::CONTENT_TYPE)
        .insert_header(("Cache-Control", "no-cache, private"))
        .body(body)
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
    let watching = q.watch || watch_path.is_some();
    let out = negotiate(
        req,
        if watching {
            Endpoint::Watch
        } else {
            Endpoint::List
        },
    )?;
    let include = match out.shape {
        Shape::Table(_) => IncludeObject::parse(req.query_string())?,
        _ => IncludeObject::Metadata,
    };
    // A pod list narrowed to one namespace by the field selector reads only that namespace.
    let namespace = namespace.or_else(|| {
        if T::NAMESPACED {
            q.fields.required_namespace()
        } else {
            None
        }
    });
    let log = state.store.log();
    if watching {
        let form = EventForm {
            shape: out.shape,
            include,
            protobuf: out.media == Media::Protobuf,
        };
        return watch::serve_as::<T>(log, &state.watchers, &q, gv, form, namespace).await;
    }
    let (snap, start, before) = list::resolve::<T>(log, &q, namespace).await?;
    let page = list::page(&snap, &q, namespace, start, before);
    if let Some(m) = &state.metrics {
        m.observe_freshness(
            crate::scrape::now_ms(),
            page.items.iter().map(|v| v.value.timestamp_ms()),
        );
    }
    let pretty = wants_pretty(req, &q, out);
    match out.shape {
        Shape::Object if out.media == Media::Protobuf => Ok(protobuf(proto::list(
            &list::list_meta(snap.rv, &page),
            &page.items,
            gv,
        ))),
        Shape::Object => respond(&list::document(snap.rv, &page, gv), out.media, pretty),
        Shape::Table(mv) => respond(
            &table::table(
                list::list_meta(snap.rv, &page),
                &page.items,
                gv,
                mv,
                include,
            ),
            out.media,
            pretty,
        ),
        Shape::PartialMetadata(mv) => respond(
            &table::partial_list(list::list_meta(snap.rv, &page), &page.items, mv),
            out.media,
            pretty,
        ),
    }
}

/// The answer to a GET of one object, in the negotiated form.
fn respond_one<T: Kind>(
    req: &HttpRequest,
    q: &ListQuery,
    v: &Versioned<T>,
    gv: GroupVersion,
) -> Result<HttpResponse, ApiError> {
    let out = negotiate(req, Endpoint::Get)?;
    let pretty = wants_pretty(req, q, out);
    match out.shape {
        Shape::Object if out.media == Media::Protobuf => Ok(protobuf(proto::object(v, gv))),
        Shape::Object => respond(&v.value.wire(v.rv, gv, true), out.media, pretty),
        Shape::Table(mv) => {
            let include = IncludeObject::parse(req.query_string())?;
            respond(
                &table::table(table::object_meta(v.rv), &[v], gv, mv, include),
                out.media,
                pretty,
            )
        }
        Shape::PartialMetadata(mv) => respond(&table::partial(v, mv), out.media, pretty),
    }
}

async fn node_get(
    req: &HttpRequest,
    state: &ApiState,
    gv: GroupVersion,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    let q = ListQuery::parse(req.query_string())?;
    negotiate(req, Endpoint::Get)?;
    if state.index.node(name).is_none() {
        return Err(ApiError::not_found("node", None, name));
    }
    let v = state
        .store
        .node(name)
        .ok_or_else(|| ApiError::not_found("nodemetrics", Some(GROUP), name))?;
    respond_one(req, &q, &v, gv)
}

async fn pod_get(
    req: &HttpRequest,
    state: &ApiState,
    gv: GroupVersion,
    ns: &str,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    let q = ListQuery::parse(req.query_string())?;
    negotiate(req, Endpoint::Get)?;
    if state.index.with_pod(ns, name, |_| ()).is_none() {
        return Err(ApiError::not_found("pods", None, name));
    }
    let v = state
        .store
        .pod(ns, name)
        .ok_or_else(|| ApiError::not_found("podmetrics", Some(GROUP), &format!("{ns}/{name}")))?;
    respond_one(req, &q, &v, gv)
}

/// Registers the resource routes of one version.
pub fn configure_version(cfg: &mut web::ServiceConfig, gv: GroupVersion) {
    let p = format!("/apis/{GROUP}/{}", gv.version);
    cfg.route(
        &format!("{p}/nodes"),
        get_or_head().to(move |req: HttpRequest, s: web::Data<ApiState>| async move {
            answer(&req, collection::<NodeObject>(&req, &s, gv, None, None).await)
        }),
    )
    .route(
        &format!("{p}/nodes/{{name}}"),
        get_or_head().to(
            move |req: HttpRequest, s: web::Data<ApiState>, path: web::Path<String>| async move {
                answer(&req, node_get(&req, &s, gv, &path).await)
            },
        ),
    )
    .route(
        &format!("{p}/pods"),
        get_or_head().to(move |req: HttpRequest, s: web::Data<ApiState>| async move {
            answer(&req, collection::<PodObject>(&req, &s, gv, None, None).await)
        }),
    )
    .route(
        &format!("{p}/namespaces/{{ns}}/pods"),
        get_or_head().to(
            move |req: HttpRequest, s: web::Data<ApiState>, path: web::Path<String>| async move {
                answer(&req, collection::<PodObject>(&req, &s, gv, Some(&path), None).await)
            },
        ),
    )
    .route(
        &format!("{p}/namespaces/{{ns}}/pods/{{name}}"),
        get_or_head().to(
            move |req: HttpRequest,
                  s: web::Data<ApiState>,
                  path: web::Path<(String, String)>| async move {
                answer(&req, pod_get(&req, &s, gv, &path.0, &path.1).await)
            },
        ),
    )
    // The deprecated `/watch/` path forms: always a watch; a name is a metadata.name selector.
    .route(
        &format!("{p}/watch/nodes"),
        get_or_head().to(move |req: HttpRequest, s: web::Data<ApiState>| async move {
            answer(&req, collection::<NodeObject>(&req, &s, gv, None, Some(None)).await)
        }),
    )
    .route(
        &format!("{p}/watch/nodes/{{name}}"),
        get_or_head().to(
            move |req: HttpRequest, s: web::Data<ApiState>, path: web::Path<String>| async move {
                answer(&req, collection::<NodeObject>(&req, &s, gv, None, Some(Some(&path))).await)
            },
        ),
    )
    .route(
        &format!("{p}/watch/pods"),
        get_or_head().to(move |req: HttpRequest, s: web::Data<ApiState>| async move {
            answer(&req, collection::<PodObject>(&req, &s, gv, None, Some(None)).await)
        }),
    )
    .route(
        &format!("{p}/watch/namespaces/{{ns}}/pods"),
        get_or_head().to(
            move |req: HttpRequest, s: web::Data<ApiState>, path: web::Path<String>| async move {
                answer(&req, collection::<PodObject>(&req, &s, gv, Some(&path), Some(None)).await)
            },
        ),
    )
    .route(
        &format!("{p}/watch/namespaces/{{ns}}/pods/{{name}}"),
        get_or_head().to(
            move |req: HttpRequest,
                  s: web::Data<ApiState>,
                  path: web::Path<(String, String)>| async move {
                answer(&req, collection::<PodObject>(&req, &s, gv, Some(&path.0), Some(Some(&path.1))).await)
            },
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;

    /// A value that cannot be encoded, as a map with a non-string key cannot be in JSON.
    struct Unencodable;

    impl Serialize for Unencodable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("no encoding for this value"))
        }
    }

    #[tokio::test]
    async fn an_encoding_failure_is_a_500_status_in_every_media_type() {
        for media in [Media::Json, Media::Yaml] {
            for pretty in [false, true] {
                let e = respond(&Unencodable, media, pretty).unwrap_err();
                let r = e.error_response();
                assert_eq!(r.status(), 500);
                assert_eq!(r.headers().get("content-type").unwrap(), "application/json");
                assert_eq!(
                    String::from_utf8(e.body()).unwrap(),
                    r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"encoding the response: no encoding for this value","reason":"InternalError","code":500}"#
                );
            }
        }
        let ok = respond(&serde_json::json!({"a": "1"}), Media::Yaml, false).unwrap();
        assert_eq!(
            ok.headers().get("content-type").unwrap(),
            "application/yaml"
        );
    }
}
