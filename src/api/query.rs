//! List and watch options from the query string, with Go's parsing, defaulting and validation.

use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiError, FieldError};

/// `resourceVersionMatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RvMatch {
    /// `NotOlderThan`.
    NotOlderThan,
    /// `Exact`.
    Exact,
}

/// The list options the API honours (`metav1.ListOptions`).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `fieldSelector` as given, so a path's name can be added to it.
    pub fields_raw: String,
    /// `watch` (any value but `0`/`false`).
    pub watch: bool,
    /// `pretty`: indent the JSON.
    pub pretty: bool,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `resourceVersion`, raw (`""` and `"0"` are special).
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`, raw.
    pub rv_match: Option<String>,
    /// `sendInitialEvents`, when given.
    pub send_initial_events: Option<bool>,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<i64>,
    /// `limit`; 0 or absent means no paging.
    pub limit: i64,
    /// `continue`.
    pub continue_token: Option<String>,
}

/// Go's boolean rule: false iff the value is `0` or `false` (any case); anything else is true.
fn go_bool(v: &str) -> bool {
    !(v == "0" || v.eq_ignore_ascii_case("false"))
}

fn go_int(name: &str, v: &str) -> Result<i64, ApiError> {
    v.parse::<i64>().map_err(|_| {
        ApiError::bad_request(format!(
            "strconv.ParseInt: parsing {v:?}: invalid syntax (parameter {name})"
        ))
    })
}

/// How a list should pick the state it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListFrom {
    /// The newest state (resourceVersion unset, or `0`: Any).
    Latest,
    /// The newest state once the log has reached N (NotOlderThan N).
    NotOlderThan(u64),
    /// Exactly the state at N (Exact N, or a paged list at N).
    Exact(u64),
}

/// How a watch should start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFrom {
    /// Synthetic ADDED events for the state not older than N (0: any), then changes.
    InitialEvents(u64),
    /// Only changes after the current state.
    Now,
    /// Every change after N.
    After(u64),
}

/// Parses a resourceVersion that is not `""` or `"0"`.
fn parse_rv(raw: &str) -> Option<u64> {
    raw.parse::<u64>().ok()
}

impl ListQuery {
    /// Parses a raw query string; empty pairs (`?&a=b`, as kube-rs sends) are skipped and unknown
    /// parameters ignored. A selector or integer that does not parse is a 400.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut q = ListQuery::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "labelSelector" => {
                    q.labels = LabelSelector::parse(&v)
                        .map_err(|e| ApiError::bad_request(e.to_string()))?
                }
                "fieldSelector" => {
                    q.fields = FieldSelector::parse(&v)
                        .map_err(|e| ApiError::bad_request(e.to_string()))?;
                    q.fields_raw = v.into_owned();
                }
                "watch" => q.watch = go_bool(&v),
                "pretty" => q.pretty = go_bool(&v),
                "allowWatchBookmarks" => q.bookmarks = go_bool(&v),
                "resourceVersion" => q.resource_version = Some(v.into_owned()),
                "resourceVersionMatch" => q.rv_match = Some(v.into_owned()),
                "sendInitialEvents" => q.send_initial_events = Some(go_bool(&v)),
                "timeoutSeconds" => q.timeout_seconds = Some(go_int("timeoutSeconds", &v)?),
                "limit" => q.limit = go_int("limit", &v)?,
                "continue" => q.continue_token = Some(v.into_owned()),
                _ => {}
            }
        }
        Ok(q)
    }

    /// Narrows a watch to the object a `/watch/.../{name}` path names; a field selector that asks
    /// for another name is a 400, as Go answers.
    pub fn require_name(&mut self, name: &str) -> Result<(), ApiError> {
        match self.fields.required_name() {
            Some(n) if n == name => Ok(()),
            Some(_) => Err(ApiError::bad_request(
                "fieldSelector metadata.name doesn't match requested name",
            )),
            None => {
                let escaped: String = name
                    .chars()
                    .flat_map(|c| match c {
                        '\\' | ',' | '=' => vec!['\\', c],
                        c => vec![c],
                    })
                    .collect();
                let raw = if self.fields_raw.is_empty() {
                    format!("metadata.name={escaped}")
                } else {
                    format!("{},metadata.name={escaped}", self.fields_raw)
                };
                self.fields =
                    FieldSelector::parse(&raw).map_err(|e| ApiError::bad_request(e.to_string()))?;
                self.fields_raw = raw;
                Ok(())
            }
        }
    }

    fn rv(&self) -> &str {
        self.resource_version.as_deref().unwrap_or("")
    }

    fn rvm(&self) -> &str {
        self.rv_match.as_deref().unwrap_or("")
    }

    fn cont(&self) -> &str {
        self.continue_token.as_deref().unwrap_or("")
    }

    /// The continue token, if one was given.
    pub fn continue_token(&self) -> Option<&str> {
        Some(self.cont()).filter(|c| !c.is_empty())
    }

    /// `ValidateListOptions` for a list, then what state it reads. A continue token is resolved by
    /// the caller; this only rejects a resourceVersion given beside it.
    pub fn list_from(&self) -> Result<ListFrom, ApiError> {
        let (rv, rvm) = (self.rv(), self.rvm());
        let mut errs = Vec::new();
        if !rvm.is_empty() {
            if rv.is_empty() {
                errs.push(FieldError::Forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided".into(),
                ));
            }
            if !self.cont().is_empty() {
                errs.push(FieldError::Forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided".into(),
                ));
            }
            if rvm != "Exact" && rvm != "NotOlderThan" {
                errs.push(FieldError::NotSupported(
                    "resourceVersionMatch",
                    rvm.into(),
                    &["Exact", "NotOlderThan", ""],
                ));
            }
            if rvm == "Exact" && rv == "0" {
                errs.push(FieldError::Forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"".into(),
                ));
            }
        }
        if self.send_initial_events.is_some() {
            errs.push(FieldError::Forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for list".into(),
            ));
        }
        if !errs.is_empty() {
            return Err(ApiError::invalid_list_options(errs));
        }
        if !self.cont().is_empty() {
            if !rv.is_empty() && rv != "0" {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            return Ok(ListFrom::Latest);
        }
        if rv.is_empty() || rv == "0" {
            return Ok(ListFrom::Latest);
        }
        let n = parse_rv(rv)
            .ok_or_else(|| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
        Ok(match (rvm, self.limit > 0) {
            ("Exact", _) => ListFrom::Exact(n),
            ("NotOlderThan", _) => ListFrom::NotOlderThan(n),
            (_, true) => ListFrom::Exact(n),
            (_, false) => ListFrom::NotOlderThan(n),
        })
    }

    /// Whether a list pages: `limit` > 0, except with resourceVersion `0`, where Go's watch cache
    /// ignores the limit and answers everything.
    pub fn pages(&self) -> bool {
        self.limit > 0 && !(self.rv() == "0" && self.cont().is_empty())
    }

    /// Defaulting (`SetListOptionsDefaults`) and `validateWatchOptions` for a watch, then where it
    /// starts. A resourceVersion that is not a number is a 422, as the watch cache answers.
    pub fn watch_from(&self) -> Result<WatchFrom, ApiError> {
        let rv = self.rv();
        let mut rvm = self.rvm().to_string();
        let mut send = self.send_initial_events;
        if send.is_none() && rvm.is_empty() && (rv.is_empty() || rv == "0") {
            send = Some(true);
            rvm = "NotOlderThan".into();
        }
        let mut errs = Vec::new();
        if send.is_some() && rvm != "NotOlderThan" {
            errs.push(FieldError::Forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan".into(),
            ));
        }
        if !rvm.is_empty() {
            if send.is_none() {
                errs.push(FieldError::Forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
                        .into(),
                ));
            }
            if rvm != "NotOlderThan" {
                errs.push(FieldError::NotSupported(
                    "resourceVersionMatch",
                    rvm.clone(),
                    &["NotOlderThan"],
                ));
            }
            if !self.cont().is_empty() {
                errs.push(FieldError::Forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided".into(),
                ));
            }
        }
        if !errs.is_empty() {
            return Err(ApiError::invalid_list_options(errs));
        }
        let n = match rv {
            "" | "0" => 0,
            raw => parse_rv(raw).ok_or_else(|| ApiError {
                code: 422,
                reason: "Invalid",
                message: format!("invalid resource version: {raw}"),
                details: None,
                continue_token: None,
            })?,
        };
        Ok(match send {
            Some(true) => WatchFrom::InitialEvents(n),
            _ if n == 0 => WatchFrom::Now,
            _ => WatchFrom::After(n),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_selectors_and_go_booleans() {
        let q = ListQuery::parse(
            "&labelSelector=app%3Dweb%2Ctier%21%3Ddb&fieldSelector=metadata.name%3Dx&watch=1",
        )
        .unwrap();
        assert!(q.watch);
        assert!(q.labels.matches([("app", "web")]));
        assert!(!q.labels.matches([("app", "web"), ("tier", "db")]));
        assert_eq!(q.fields.required_name(), Some("x"));
        for (v, want) in [
            ("false", false),
            ("FALSE", false),
            ("0", false),
            ("", true),
            ("True", true),
        ] {
            assert_eq!(
                ListQuery::parse(&format!("watch={v}")).unwrap().watch,
                want,
                "watch={v}"
            );
        }
        assert!(!ListQuery::parse("").unwrap().watch);
        assert_eq!(ListQuery::parse("limit=x").unwrap_err().code, 400);
    }

    #[test]
    fn bad_selectors_are_400s() {
        let e = ListQuery::parse("labelSelector=a%20b").unwrap_err();
        assert_eq!(e.code, 400);
        let f = ListQuery::parse("fieldSelector=spec.nodeName%3Dx").unwrap_err();
        assert_eq!(f.code, 400);
        assert!(
            f.message.contains("is not a known field selector"),
            "{}",
            f.message
        );
    }

    fn list(q: &str) -> Result<ListFrom, ApiError> {
        ListQuery::parse(q).unwrap().list_from()
    }

    fn watch(q: &str) -> Result<WatchFrom, ApiError> {
        ListQuery::parse(q).unwrap().watch_from()
    }

    #[test]
    fn list_resource_version_semantics_follow_the_table() {
        assert_eq!(list("").unwrap(), ListFrom::Latest);
        assert_eq!(list("resourceVersion=0").unwrap(), ListFrom::Latest);
        assert_eq!(
            list("resourceVersion=7").unwrap(),
            ListFrom::NotOlderThan(7)
        );
        assert_eq!(
            list("resourceVersion=7&limit=5").unwrap(),
            ListFrom::Exact(7)
        );
        assert_eq!(
            list("resourceVersion=7&resourceVersionMatch=Exact").unwrap(),
            ListFrom::Exact(7)
        );
        assert_eq!(
            list("resourceVersion=7&resourceVersionMatch=NotOlderThan&limit=5").unwrap(),
            ListFrom::NotOlderThan(7)
        );
        assert!(
            !ListQuery::parse("resourceVersion=0&limit=5")
                .unwrap()
                .pages()
        );
        assert!(ListQuery::parse("limit=5").unwrap().pages());
        let e = list("resourceVersionMatch=Exact").unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        let e = list("resourceVersion=0&resourceVersionMatch=Exact").unwrap_err();
        assert!(e.message.ends_with(
            "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""
        ));
        let e = list("resourceVersion=1&resourceVersionMatch=Bogus").unwrap_err();
        assert!(
            e.message.contains("Unsupported value: \"Bogus\""),
            "{}",
            e.message
        );
        let e = list("sendInitialEvents=true").unwrap_err();
        assert!(
            e.message
                .ends_with("sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list")
        );
        let e = list("resourceVersion=5&continue=abc").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                400,
                "specifying resource version is not allowed when using continue"
            )
        );
        assert_eq!(list("resourceVersion=x").unwrap_err().code, 400);
    }

    #[test]
    fn watch_defaults_and_validation_follow_go() {
        assert_eq!(watch("").unwrap(), WatchFrom::InitialEvents(0));
        assert_eq!(
            watch("resourceVersion=0").unwrap(),
            WatchFrom::InitialEvents(0)
        );
        assert_eq!(watch("resourceVersion=9").unwrap(), WatchFrom::After(9));
        assert_eq!(
            watch("resourceVersion=9&sendInitialEvents=false")
                .unwrap_err()
                .code,
            422,
            "sendInitialEvents needs NotOlderThan"
        );
        assert_eq!(
            watch("sendInitialEvents=false&resourceVersionMatch=NotOlderThan").unwrap(),
            WatchFrom::Now
        );
        assert_eq!(
            watch("sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=9")
                .unwrap(),
            WatchFrom::InitialEvents(9)
        );
        let e = watch("resourceVersion=9&resourceVersionMatch=NotOlderThan").unwrap_err();
        assert!(e.message.contains(
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
        ));
        let e = watch("sendInitialEvents=true").unwrap_err();
        assert!(
            e.message.contains(
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
            )
        );
        assert_eq!(watch("resourceVersion=abc").unwrap_err().code, 422);
    }
}
