//! `manifests/` and its overlays, rendered by the real `kubectl kustomize`, say what an operator
//! relies on: least privilege, a locked-down container, probes, HA settings and the caBundle wiring.

use std::process::Command;

use serde_json::Value;

/// Renders a kustomization as a list of objects.
fn render(dir: &str) -> Vec<Value> {
    let out = Command::new("kubectl")
        .args([
            "kustomize",
            &format!("{}/{dir}", env!("CARGO_MANIFEST_DIR")),
        ])
        .output()
        .expect("kubectl on PATH");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_saphyr::from_multiple::<Value>(&text).expect("kustomize output is YAML")
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn container(objs: &[Value]) -> &Value {
    &find(objs, "Deployment", "metrics-apiserver")["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn base_is_least_privilege_locked_down_and_probed() {
    let objs = render("manifests");
    let sc = &container(&objs)["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    let c = container(&objs);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez");
    assert_eq!(c["readinessProbe"]["httpGet"]["scheme"], "HTTPS");
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["requests"]["memory"].is_string());
    let deploy = find(&objs, "Deployment", "metrics-apiserver");
    assert_eq!(
        deploy["spec"]["template"]["spec"]["priorityClassName"],
        "system-cluster-critical"
    );
    assert_eq!(
        deploy["spec"]["template"]["spec"]["serviceAccountName"],
        "metrics-apiserver"
    );

    // The reader role aggregates into view, edit and admin and grants only reads.
    let reader = find(&objs, "ClusterRole", "system:aggregated-metrics-reader");
    for r in ["view", "edit", "admin"] {
        assert_eq!(
            reader["metadata"]["labels"][format!("rbac.authorization.k8s.io/aggregate-to-{r}")],
            "true"
        );
    }
    assert_eq!(
        reader["rules"][0]["verbs"],
        serde_json::json!(["get", "list", "watch"])
    );
    // The server's own role: list/watch of nodes and pods, get on the kubelet endpoints, nothing else.
    let own = find(&objs, "ClusterRole", "system:metrics-apiserver");
    let rules = own["rules"].as_array().unwrap();
    for rule in rules {
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            verbs.iter().all(|v| ["get", "list", "watch"].contains(v)),
            "{rule}"
        );
        let resources: Vec<&str> = rule["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        if resources.contains(&"nodes/metrics") {
            assert_eq!(verbs, ["get"]);
        } else {
            assert_eq!(verbs, ["list", "watch"], "{rule}");
        }
    }
    let delegator = find(
        &objs,
        "ClusterRoleBinding",
        "metrics-apiserver:system:auth-delegator",
    );
    assert_eq!(delegator["roleRef"]["name"], "system:auth-delegator");
    let reader_binding = find(&objs, "RoleBinding", "metrics-apiserver-auth-reader");
    assert_eq!(
        reader_binding["roleRef"]["name"],
        "extension-apiserver-authentication-reader"
    );
    assert_eq!(reader_binding["metadata"]["namespace"], "kube-system");

    for (name, version) in [
        ("v1beta1.metrics.k8s.io", "v1beta1"),
        ("v1.metrics.k8s.io", "v1"),
    ] {
        let api = find(&objs, "APIService", name);
        assert_eq!(api["spec"]["group"], "metrics.k8s.io");
        assert_eq!(api["spec"]["version"], version);
        assert_eq!(api["spec"]["service"]["name"], "metrics-apiserver");
        assert_eq!(api["spec"]["service"]["namespace"], "kube-system");
    }
    let priority = |n: &str| find(&objs, "APIService", n)["spec"]["versionPriority"].as_i64();
    assert!(
        priority("v1beta1.metrics.k8s.io") > priority("v1.metrics.k8s.io"),
        "v1beta1 stays preferred"
    );
    let svc = find(&objs, "Service", "metrics-apiserver");
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
}

#[test]
fn high_availability_never_leaves_zero_ready_replicas() {
    let objs = render("manifests/overlays/high-availability");
    let deploy = find(&objs, "Deployment", "metrics-apiserver");
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(
        deploy["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        0
    );
    let anti = &deploy["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        [0];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        anti["labelSelector"]["matchLabels"]["app.kubernetes.io/name"],
        "metrics-apiserver"
    );
    let pdb = find(&objs, "PodDisruptionBudget", "metrics-apiserver");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        deploy["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
    );
}

#[test]
fn cert_manager_overlay_wires_the_ca_bundle_instead_of_skipping_verification() {
    let objs = render("manifests/overlays/cert-manager");
    let apis: Vec<&Value> = objs.iter().filter(|o| o["kind"] == "APIService").collect();
    assert_eq!(apis.len(), 2);
    for api in apis {
        assert_eq!(api["spec"]["insecureSkipTLSVerify"], false, "{api}");
        assert_eq!(
            api["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "kube-system/metrics-apiserver"
        );
    }
    let cert = find(&objs, "Certificate", "metrics-apiserver");
    let secret = cert["spec"]["secretName"].as_str().unwrap();
    assert!(
        cert["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .contains(&Value::from("metrics-apiserver.kube-system.svc"))
    );
    let deploy = find(&objs, "Deployment", "metrics-apiserver");
    let volumes = deploy["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    let vol = volumes
        .iter()
        .find(|v| v["secret"]["secretName"] == secret)
        .expect("the certificate's secret is mounted");
    let c = container(&objs);
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == vol["name"])
        .expect("and mounted in the container");
    let dir = mount["mountPath"].as_str().unwrap();
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.contains(&format!("--tls-cert-file={dir}/tls.crt").as_str()),
        "{args:?}"
    );
    assert!(
        args.contains(&format!("--tls-private-key-file={dir}/tls.key").as_str()),
        "{args:?}"
    );
}

#[test]
fn without_the_summary_fallback_the_role_has_no_nodes_stats() {
    let base = render("manifests");
    let rules = |objs: &[Value]| {
        find(objs, "ClusterRole", "system:metrics-apiserver")["rules"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["resources"].as_array().unwrap().clone())
            .map(|v| v.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(rules(&base).contains(&"nodes/stats".to_string()));
    let objs = render("manifests/overlays/no-summary-fallback");
    let resources = rules(&objs);
    assert!(
        !resources.contains(&"nodes/stats".to_string()),
        "{resources:?}"
    );
    assert!(resources.contains(&"nodes/metrics".to_string()));
    let args = container(&objs)["args"].as_array().unwrap().clone();
    assert!(
        args.contains(&Value::from("--kubelet-summary-fallback=false")),
        "{args:?}"
    );
    // Everything else is the base's.
    assert_eq!(objs.len(), base.len());
}
