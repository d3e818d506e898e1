//! `meta.k8s.io` Table and PartialObjectMetadata output, as metrics-server's convertor
//! (`pkg/api/table.go`) and apimachinery's transform (`handlers/response.go`) build them, so that
//! `kubectl get podmetrics` prints NAME, CPU, MEMORY, WINDOW and metadata informers work.

use serde::Serialize;

use super::kind::Kind;
use super::status::ApiError;
use super::types::{GroupVersion, ListMeta, ObjectMeta};
use crate::store::Versioned;

/// `includeObject`: what each Table row's `object` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// `null`.
    None,
    /// PartialObjectMetadata (the default): kubectl takes NAMESPACE and LABELS from it.
    #[default]
    Metadata,
    /// The whole object, which `kubectl get --sort-by` asks for.
    Object,
}

impl IncludeObject {
    /// Parses the query parameter; anything else is Go's 400.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let raw = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "includeObject")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        match raw.as_str() {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(ApiError::bad_request(format!(
                "Unable to convert to Table as requested: includeObject: Invalid value: {other:?}: must be 'Metadata', 'Object', 'None', or empty"
            ))),
        }
    }
}

/// One `columnDefinitions` entry; Go writes every field, empty or zero.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// Column name (`Name`, then resource names, then `Window`).
    pub name: &'static str,
    /// Always `string`.
    #[serde(rename = "type")]
    pub typ: &'static str,
    /// `name`, `quantity` or `duration`.
    pub format: &'static str,
    /// Only `Name` has one.
    pub description: &'static str,
    /// Always 0: every column shows without `-o wide`.
    pub priority: i32,
}

/// PartialObjectMetadata: type meta of `meta.k8s.io` and the object's metadata.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialObjectMetadata<'a> {
    /// `PartialObjectMetadata`.
    pub kind: &'static str,
    /// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`, as negotiated.
    pub api_version: &'static str,
    /// The object's metadata.
    pub metadata: ObjectMeta<'a>,
}

/// PartialObjectMetadataList.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialObjectMetadataList<'a> {
    /// `PartialObjectMetadataList`.
    pub kind: &'static str,
    /// As negotiated.
    pub api_version: &'static str,
    /// The list's metadata (resourceVersion, continue).
    pub metadata: ListMeta,
    /// Items, each with its type meta, as Go's transform sets it.
    pub items: Vec<PartialObjectMetadata<'a>>,
}

/// A row's `object`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RowObject<'a, W> {
    /// `null` (`includeObject=None`).
    None(()),
    /// PartialObjectMetadata.
    Metadata(PartialObjectMetadata<'a>),
    /// The whole object, typed.
    Object(W),
}

/// A Table row.
#[derive(Debug, Clone, Serialize)]
pub struct Row<'a, W> {
    /// Name, usage quantities, window.
    pub cells: Vec<String>,
    /// See [`IncludeObject`].
    pub object: RowObject<'a, W>,
}

/// A `meta.k8s.io` Table.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Table<'a, W> {
    /// `Table`.
    pub kind: &'static str,
    /// `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`.
    pub api_version: &'static str,
    /// resourceVersion (and continue) of the list or object: `kubectl get -w` watches from it.
    pub metadata: ListMeta,
    /// Columns from the first row's usage.
    pub column_definitions: Vec<Column>,
    /// One per object; `[]` when empty, and kubectl prints "No resources found".
    pub rows: Vec<Row<'a, W>>,
}

/// `meta.k8s.io/<version>`, static.
pub fn meta_api_version(version: &str) -> &'static str {
    if version == "v1beta1" {
        "meta.k8s.io/v1beta1"
    } else {
        "meta.k8s.io/v1"
    }
}

fn columns(names: &[&'static str]) -> Vec<Column> {
    let mut cols = vec![Column {
        name: "Name",
        typ: "string",
        format: "name",
        description: "Name of the resource",
        priority: 0,
    }];
    cols.extend(names.iter().map(|n| Column {
        name: n,
        typ: "string",
        format: "quantity",
        description: "",
        priority: 0,
    }));
    cols.push(Column {
        name: "Window",
        typ: "string",
        format: "duration",
        description: "",
        priority: 0,
    });
    cols
}

/// PartialObjectMetadata of one object.
pub fn partial<'a, T: Kind>(v: &'a Versioned<T>, meta_version: &str) -> PartialObjectMetadata<'a> {
    PartialObjectMetadata {
        kind: "PartialObjectMetadata",
        api_version: meta_api_version(meta_version),
        metadata: v.value.metadata(v.rv),
    }
}

/// PartialObjectMetadataList of a page.
pub fn partial_list<'a, T: Kind>(
    meta: ListMeta,
    items: &[&'a Versioned<T>],
    meta_version: &str,
) -> PartialObjectMetadataList<'a> {
    PartialObjectMetadataList {
        kind: "PartialObjectMetadataList",
        api_version: meta_api_version(meta_version),
        metadata: meta,
        items: items.iter().map(|v| partial(v, meta_version)).collect(),
    }
}

/// The Table of `items`: columns are `Name`, the first item's usage names sorted, `Window`, as
/// metrics-server builds them; an empty Table keeps the fixed columns so clients print headers.
pub fn table<'a, T: Kind>(
    meta: ListMeta,
    items: &[&'a Versioned<T>],
    gv: GroupVersion,
    meta_version: &str,
    include: IncludeObject,
) -> Table<'a, T::Wire<'a>> {
    let mut names: Option<Vec<&'static str>> = None;
    let mut rows = Vec::with_capacity(items.len());
    for v in items {
        let (usage, window) = v.value.table_usage();
        let names = names.get_or_insert_with(|| usage.iter().map(|(n, _)| *n).collect());
        let mut cells = Vec::with_capacity(names.len() + 2);
        cells.push(v.value.name().to_string());
        for n in names.iter() {
            // A resource the first row had and this one lacks is a zero quantity in Go.
            let cell = usage
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, q)| q.clone())
                .unwrap_or_else(|| "0".into());
            cells.push(cell);
        }
        cells.push(window);
        let object = match include {
            IncludeObject::None => RowObject::None(()),
            IncludeObject::Metadata => RowObject::Metadata(partial(v, meta_version)),
            IncludeObject::Object => RowObject::Object(v.value.wire(v.rv, gv, true)),
        };
        rows.push(Row { cells, object });
    }
    Table {
        kind: "Table",
        api_version: meta_api_version(meta_version),
        metadata: meta,
        column_definitions: columns(names.as_deref().unwrap_or(&["cpu", "memory"])),
        rows,
    }
}

/// The metadata of a Table or PartialObjectMetadata answer to a GET: the object's resourceVersion.
pub fn object_meta(rv: u64) -> ListMeta {
    ListMeta {
        resource_version: rv.to_string(),
        continue_token: None,
        remaining_item_count: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_object_accepts_go_values_and_rejects_others_with_go_message() {
        assert_eq!(IncludeObject::parse("").unwrap(), IncludeObject::Metadata);
        assert_eq!(
            IncludeObject::parse("includeObject=None").unwrap(),
            IncludeObject::None
        );
        assert_eq!(
            IncludeObject::parse("limit=1&includeObject=Object").unwrap(),
            IncludeObject::Object
        );
        let e = IncludeObject::parse("includeObject=All").unwrap_err();
        assert_eq!(
            String::from_utf8(e.body()).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unable to convert to Table as requested: includeObject: Invalid value: \"All\": must be 'Metadata', 'Object', 'None', or empty","reason":"BadRequest","code":400}"#
        );
    }
}
