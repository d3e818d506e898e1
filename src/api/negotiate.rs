//! Content negotiation as apimachinery does it (`runtime/serializer` and `endpoints/handlers/negotiation`):
//! the Accept header's clauses in goautoneg order, the first we can produce wins, and `406
//! NotAcceptable` (Go's message listing what we serve) only when no clause names anything we serve.
//!
//! The output is a media type (JSON, YAML) and a shape: the object itself, a `meta.k8s.io` Table, or
//! PartialObjectMetadata. Table and PartialObjectMetadata are transformations Go allows only for
//! `application/json` and `application/yaml`, group `meta.k8s.io`, versions `v1` and `v1beta1`.

use actix_web::HttpRequest;

use super::status::ApiError;

/// The media type of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// `application/json`: the default, and what `*/*` and `application/*` mean.
    Json,
    /// `application/yaml`, as kube-apiserver writes it (keys sorted, sigs.k8s.io/yaml style).
    Yaml,
    /// `application/vnd.kubernetes.protobuf`: objects, lists and watch streams (never Tables, as in Go).
    Protobuf,
}

impl Media {
    /// The Content-Type written for it.
    pub fn content_type(self) -> &'static str {
        match self {
            Media::Json => "application/json",
            Media::Yaml => "application/yaml",
            Media::Protobuf => super::proto::CONTENT_TYPE,
        }
    }
}

/// What the body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// NodeMetrics/PodMetrics or their lists.
    Object,
    /// A `meta.k8s.io` Table of this version (`v1` or `v1beta1`).
    Table(&'static str),
    /// PartialObjectMetadata (GET, watch) or PartialObjectMetadataList (LIST) of this version.
    PartialMetadata(&'static str),
}

/// The negotiated output of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// Media type.
    pub media: Media,
    /// Body shape.
    pub shape: Shape,
    /// The `pretty=1` media-type parameter.
    pub pretty: bool,
}

impl Output {
    /// JSON of the object itself: what a request without Accept gets.
    pub const JSON: Output = Output {
        media: Media::Json,
        shape: Shape::Object,
        pretty: false,
    };
}

/// What an endpoint can produce besides its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// GET of one object: Table and PartialObjectMetadata.
    Get,
    /// LIST: Table and PartialObjectMetadataList.
    List,
    /// WATCH: Table and PartialObjectMetadata per event; streams have no YAML encoding in Go.
    Watch,
    /// Discovery and other documents: JSON and YAML only.
    Document,
}

/// One clause of an Accept header, as goautoneg parses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// `application`, or `*`.
    pub typ: String,
    /// `json`, or `*`.
    pub subtype: String,
    /// Parameters other than `q`, names lower-cased, in header order.
    pub params: Vec<(String, String)>,
    /// Quality, 1 when absent.
    pub q: f32,
}

impl Clause {
    /// The value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses an Accept header into clauses sorted as goautoneg sorts them: by quality, then concrete
/// types before wildcards, then header order. Clauses with `q=0` are dropped.
pub fn parse_accept(header: &str) -> Vec<Clause> {
    let mut out = Vec::new();
    for part in header.split(',') {
        let mut pieces = part.split(';');
        let mt = pieces.next().unwrap_or("").trim();
        if mt.is_empty() {
            continue;
        }
        let (typ, subtype) = match mt.split_once('/') {
            Some((t, s)) => (t.trim().to_ascii_lowercase(), s.trim().to_ascii_lowercase()),
            None if mt == "*" => ("*".to_string(), "*".to_string()),
            None => continue,
        };
        let mut q = 1.0f32;
        let mut params = Vec::new();
        for p in pieces {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim().trim_matches('"').to_string();
            if k == "q" {
                q = v.parse().unwrap_or(1.0);
            } else {
                params.push((k, v));
            }
        }
        if q > 0.0 {
            out.push(Clause {
                typ,
                subtype,
                params,
                q,
            });
        }
    }
    out.sort_by(|a, b| {
        b.q.partial_cmp(&a.q)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then((a.typ == "*").cmp(&(b.typ == "*")))
            .then((a.subtype == "*").cmp(&(b.subtype == "*")))
    });
    out
}

/// The media types an endpoint serves, in the order Go lists them in a 406.
pub fn served(endpoint: Endpoint) -> &'static [&'static str] {
    match endpoint {
        Endpoint::Watch => &["application/json", "application/vnd.kubernetes.protobuf"],
        Endpoint::Document => &["application/json", "application/yaml"],
        Endpoint::Get | Endpoint::List => &[
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
        ],
    }
}

fn media_of(c: &Clause, endpoint: Endpoint) -> Option<Media> {
    let yaml_ok = endpoint != Endpoint::Watch;
    match (c.typ.as_str(), c.subtype.as_str()) {
        ("*", "*") | ("application", "*") | ("application", "json") => Some(Media::Json),
        ("application", "yaml") if yaml_ok => Some(Media::Yaml),
        ("application", "vnd.kubernetes.protobuf") if endpoint != Endpoint::Document => {
            Some(Media::Protobuf)
        }
        _ => None,
    }
}

/// The shape a clause's `as`/`g`/`v` ask for, `None` when this endpoint cannot produce it (the
/// clause is then skipped, as Go's `acceptMediaTypeOptions` does).
fn shape_of(c: &Clause, endpoint: Endpoint, media: Media) -> Option<Shape> {
    let mut pretty_ok = true;
    for (k, v) in &c.params {
        match k.as_str() {
            "as" | "g" | "v" | "charset" => {}
            "pretty" => pretty_ok = !v.is_empty(),
            "stream" if endpoint == Endpoint::Watch && v == "watch" => {}
            _ => return None,
        }
    }
    if !pretty_ok {
        return None;
    }
    let Some(as_) = c.param("as") else {
        // `g`/`v` without `as` name no transformation: the object itself.
        return Some(Shape::Object);
    };
    if endpoint == Endpoint::Document {
        return None;
    }
    if c.param("g") != Some("meta.k8s.io") {
        return None;
    }
    let version = match c.param("v") {
        Some("v1") => "v1",
        Some("v1beta1") => "v1beta1",
        _ => return None,
    };
    // Go never transforms into protobuf: a Table clause of that media type is skipped.
    if media == Media::Protobuf {
        return None;
    }
    match (as_, endpoint) {
        ("Table", _) => Some(Shape::Table(version)),
        ("PartialObjectMetadata", Endpoint::Get | Endpoint::Watch) => {
            Some(Shape::PartialMetadata(version))
        }
        ("PartialObjectMetadataList", Endpoint::List) => Some(Shape::PartialMetadata(version)),
        _ => None,
    }
}

/// Negotiates the output for an Accept header (`None`: absent, which is JSON).
pub fn negotiate_header(accept: Option<&str>, endpoint: Endpoint) -> Result<Output, ApiError> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(Output::JSON);
    };
    for c in parse_accept(accept) {
        let Some(media) = media_of(&c, endpoint) else {
            continue;
        };
        if let Some(shape) = shape_of(&c, endpoint, media) {
            return Ok(Output {
                media,
                shape,
                pretty: c.param("pretty") == Some("1"),
            });
        }
    }
    Err(ApiError::not_acceptable(served(endpoint)))
}

/// Negotiates the output of a request.
pub fn negotiate(req: &HttpRequest, endpoint: Endpoint) -> Result<Output, ApiError> {
    let accept = req
        .headers()
        .get_all(actix_web::http::header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    negotiate_header(Some(&accept), endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECTL_GET: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

    fn out(accept: &str, e: Endpoint) -> Result<Output, ApiError> {
        negotiate_header(Some(accept), e)
    }

    #[test]
    fn every_accept_form_picks_what_go_picks() {
        let table = |v| Output {
            media: Media::Json,
            shape: Shape::Table(v),
            pretty: false,
        };
        assert_eq!(out(KUBECTL_GET, Endpoint::List).unwrap(), table("v1"));
        assert_eq!(
            out(
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
                Endpoint::Get
            )
            .unwrap(),
            table("v1beta1")
        );
        // A Table of another group, or version, is skipped for the next clause.
        assert_eq!(
            out(
                "application/json;as=Table;v=v2;g=meta.k8s.io,application/yaml",
                Endpoint::List
            )
            .unwrap()
            .media,
            Media::Yaml
        );
        for proto in [
            "application/vnd.kubernetes.protobuf, */*",
            "application/vnd.kubernetes.protobuf,application/json",
            "application/vnd.kubernetes.protobuf",
        ] {
            assert_eq!(out(proto, Endpoint::List).unwrap().media, Media::Protobuf);
            assert_eq!(out(proto, Endpoint::Watch).unwrap().media, Media::Protobuf);
        }
        // A Table is never protobuf: that clause is skipped for the next.
        assert_eq!(
            out(
                "application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1,application/json",
                Endpoint::List
            )
            .unwrap(),
            Output::JSON
        );
        for json in [
            "*/*",
            "application/*",
            "application/json",
            "text/html;q=0.9, application/json;q=0.8",
            "*",
        ] {
            assert_eq!(out(json, Endpoint::List).unwrap(), Output::JSON, "{json}");
        }
        assert_eq!(negotiate_header(None, Endpoint::Get).unwrap(), Output::JSON);
        assert_eq!(
            out("application/yaml", Endpoint::Get).unwrap().media,
            Media::Yaml
        );
        // Quality orders clauses before header order does.
        assert_eq!(
            out("application/json;q=0.5, application/yaml", Endpoint::Get)
                .unwrap()
                .media,
            Media::Yaml
        );
        assert_eq!(
            out(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
                Endpoint::List
            )
            .unwrap()
            .shape,
            Shape::PartialMetadata("v1")
        );
        assert!(
            out(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
                Endpoint::Get
            )
            .is_err()
        );
        assert!(
            out("application/json;pretty=1", Endpoint::Get)
                .unwrap()
                .pretty
        );
        assert_eq!(
            out("application/json;stream=watch", Endpoint::Watch).unwrap(),
            Output::JSON
        );
    }

    #[test]
    fn nothing_served_is_a_406_listing_what_is() {
        for bad in [
            "text/html",
            "application/json;q=0",
            "application/json;as=Table;g=meta.k8s.io;v=v3",
        ] {
            let e = out(bad, Endpoint::Get).unwrap_err();
            assert_eq!(
                String::from_utf8(e.body()).unwrap(),
                r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf","reason":"NotAcceptable","code":406}"#,
                "{bad}"
            );
        }
        assert_eq!(
            out("application/vnd.kubernetes.protobuf", Endpoint::Document)
                .unwrap_err()
                .message,
            "only the following media types are accepted: application/json, application/yaml"
        );
        let e = out("application/yaml", Endpoint::Watch).unwrap_err();
        assert_eq!(
            e.message,
            "only the following media types are accepted: application/json, application/vnd.kubernetes.protobuf"
        );
        assert!(
            out(
                "application/json;as=Table;g=meta.k8s.io;v=v1",
                Endpoint::Document
            )
            .is_err()
        );
    }
}
