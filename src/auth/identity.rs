//! Who a request is from, as Kubernetes' `user.Info` describes it.

use std::collections::BTreeMap;

/// The anonymous user, for requests without any credential.
pub const ANONYMOUS: &str = "system:anonymous";
/// The group of the anonymous user.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
/// Added to every authenticated user's groups.
pub const AUTHENTICATED: &str = "system:authenticated";
/// Members are allowed everything without a SubjectAccessReview (Go's `AlwaysAllowGroups`).
pub const MASTERS: &str = "system:masters";

/// An authenticated (or anonymous) user; handlers find it in the request extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// User name.
    pub name: String,
    /// UID, empty when unknown.
    pub uid: String,
    /// Groups, in the order the authenticator found them.
    pub groups: Vec<String>,
    /// Extra attributes (e.g. `authentication.kubernetes.io/credential-id`).
    pub extra: BTreeMap<String, Vec<String>>,
}

/// Which authenticator produced the identity (for logs and tests, never for decisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The front-proxy's certificate plus `X-Remote-*` headers.
    RequestHeader,
    /// A client certificate verified against `--client-ca-file`.
    ClientCert,
    /// A bearer token confirmed by a TokenReview.
    Token,
    /// No credential at all.
    Anonymous,
}

impl UserInfo {
    /// The anonymous user: `system:anonymous` in `system:unauthenticated`.
    pub fn anonymous() -> Self {
        UserInfo {
            name: ANONYMOUS.to_string(),
            groups: vec![UNAUTHENTICATED.to_string()],
            ..UserInfo::default()
        }
    }

    /// Go's `AuthenticatedGroupAdder`: appends `system:authenticated` unless the user is
    /// anonymous or already carries `system:authenticated`/`system:unauthenticated`.
    pub fn add_authenticated_group(&mut self) {
        if self.name == ANONYMOUS
            || self
                .groups
                .iter()
                .any(|g| g == AUTHENTICATED || g == UNAUTHENTICATED)
        {
            return;
        }
        self.groups.push(AUTHENTICATED.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_adder_follows_go() {
        let mut u = UserInfo {
            name: "alice".into(),
            groups: vec!["dev".into()],
            ..Default::default()
        };
        u.add_authenticated_group();
        u.add_authenticated_group();
        assert_eq!(u.groups, vec!["dev", AUTHENTICATED]);
        let mut a = UserInfo::anonymous();
        a.add_authenticated_group();
        assert_eq!(a.groups, vec![UNAUTHENTICATED]);
    }
}
