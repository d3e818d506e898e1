//! Accept negotiation: full objects, `PartialObjectMetadata(List)` (metadata-only watchers) or
//! server-side `Table`s (kubectl `get`).

use hyper::{HeaderMap, Response, StatusCode, header};

use super::responses::status;
use crate::objects::IncludeObject;
use crate::serve::Body;
use crate::store::Kind;

/// Response representation negotiated from Accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Full,
    /// `PartialObjectMetadata` (`list: false`) or `PartialObjectMetadataList` (`list: true`), as
    /// the Accept clause named it.
    Meta {
        list: bool,
    },
    Table(IncludeObject),
}

impl Format {
    /// kube-apiserver's 406 when the metadata kind asked for does not fit the answer: a list (and
    /// only a list) is `PartialObjectMetadataList`; a get and each watch event are
    /// `PartialObjectMetadata` (`handlers/response.go`). A watch asking for the list kind gets the
    /// 406 up front here (Go writes 200 and ends the stream at the first event).
    pub(super) fn mismatch(self, kind: Kind, answer_is_list: bool) -> Option<Response<Body>> {
        let Format::Meta { list } = self else {
            return None;
        };
        if list == answer_is_list {
            return None;
        }
        let go_type = format!("*v1.{}", kind.name());
        let message = if list {
            format!(
                "you requested PartialObjectMetadataList, but the requested object is not a list ({go_type})"
            )
        } else {
            format!(
                "you requested PartialObjectMetadata, but the requested object is a list ({go_type}List)"
            )
        };
        Some(status(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            &message,
            None,
        ))
    }
}

/// The representation the Accept header asks for; `Err` is the 400 message for a bad
/// `includeObject`.
pub(super) fn negotiate(headers: &HeaderMap, include: Option<&str>) -> Result<Format, String> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Clauses in order; the first one we can serve wins (Table and PartialObjectMetadata are
    // only served for `g=meta.k8s.io`, anything else falls back to plain JSON).
    for clause in accept.split(',') {
        let params: Vec<&str> = clause.split(';').map(str::trim).collect();
        let has = |p: &str| params.iter().any(|x| x.eq_ignore_ascii_case(p));
        if !has("g=meta.k8s.io") {
            continue;
        }
        if has("as=Table") && (has("v=v1") || has("v=v1beta1")) {
            let inc = match include.unwrap_or("") {
                "" | "Metadata" => IncludeObject::Metadata,
                "Object" => IncludeObject::Object,
                "None" => IncludeObject::None,
                other => {
                    return Err(format!(
                        "Unable to convert to Table as requested: includeObject: Invalid value: \"{other}\": must be 'Metadata', 'Object', 'None', or empty"
                    ));
                }
            };
            return Ok(Format::Table(inc));
        }
        if (has("as=PartialObjectMetadata") || has("as=PartialObjectMetadataList")) && has("v=v1") {
            return Ok(Format::Meta {
                list: has("as=PartialObjectMetadataList"),
            });
        }
    }
    Ok(Format::Full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(&h, None), Ok(Format::Full));
        h.insert(header::ACCEPT, "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json".parse().unwrap());
        assert_eq!(
            negotiate(&h, None),
            Ok(Format::Table(IncludeObject::Metadata))
        );
        assert_eq!(
            negotiate(&h, Some("Object")),
            Ok(Format::Table(IncludeObject::Object))
        );
        assert!(negotiate(&h, Some("x")).is_err());
        h.insert(
            header::ACCEPT,
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
                .parse()
                .unwrap(),
        );
        assert_eq!(negotiate(&h, None), Ok(Format::Meta { list: true }));
        h.insert(
            header::ACCEPT,
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
                .parse()
                .unwrap(),
        );
        assert_eq!(negotiate(&h, None), Ok(Format::Meta { list: false }));
        h.insert(
            header::ACCEPT,
            "application/vnd.kubernetes.protobuf, */*".parse().unwrap(),
        );
        assert_eq!(negotiate(&h, None), Ok(Format::Full));
    }
}
