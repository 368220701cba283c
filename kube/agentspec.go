package kube

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mirrord-go/mirrord/schema"
)

// AgentSpec is what CreateAgent needs.
type AgentSpec struct {
	Config    schema.AgentConfig // every agent.* key is honoured
	Target    *Target            // nil = targetless
	Namespace string             // targetless: where to run (target.namespace or c.Namespace)
	Image     string             // full image ref (the caller computes the default)
	TokenHash [32]byte           // passed as env MIRRORD_AGENT_TOKEN_SHA256 (hex)
	Port      int                // 0 = random in 30000–65535
	// CommunicationTimeout is passed as -t: the agent exits when no client
	// connects within it. Zero means 30 s, upstream's default.
	CommunicationTimeout time.Duration
}

// AgentContainerName is the name of the agent's container, in its Job's pod
// and as an ephemeral container alike.
const AgentContainerName = "mirrord-agent"

// defaultCapabilities are what a targeted agent needs: entering the target's
// namespaces (SYS_ADMIN), reading its memory and fds (SYS_PTRACE), and
// redirecting traffic with iptables (NET_ADMIN, NET_RAW).
var defaultCapabilities = []string{"SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN", "NET_RAW"}

// agentParams are the random parts of one agent.
type agentParams struct {
	name string
	port int
	gid  int64
}

func newAgentParams(spec AgentSpec) (agentParams, error) {
	suffix, err := randomAlnum(10)
	if err != nil {
		return agentParams{}, err
	}
	p := agentParams{name: "mirrord-agent-" + suffix, port: spec.Port}
	if p.port == 0 {
		n, err := randInt(30000, 65535)
		if err != nil {
			return agentParams{}, err
		}
		p.port = int(n)
	}
	if p.gid, err = randInt(3000, 65534); err != nil {
		return agentParams{}, err
	}
	return p, nil
}

// agentArgs is the agent's command line, upstream's shape.
func agentArgs(spec AgentSpec, p agentParams, mode string) []string {
	t := spec.CommunicationTimeout
	if t <= 0 {
		t = 30 * time.Second
	}
	secs := int((t + time.Second - 1) / time.Second)
	args := []string{"-l", strconv.Itoa(p.port), "-t", strconv.Itoa(secs), mode}
	if mode == "targeted" {
		args = append(args, "--container-id", spec.Target.ContainerID, "--container-runtime", spec.Target.Runtime)
	}
	return args
}

// agentEnv passes every agent.* setting the agent reads from its
// environment.
func agentEnv(spec AgentSpec) []corev1.EnvVar {
	a := spec.Config
	b := strconv.FormatBool
	env := []corev1.EnvVar{
		{Name: "MIRRORD_AGENT_TOKEN_SHA256", Value: hex.EncodeToString(spec.TokenHash[:])},
		{Name: "MIRRORD_AGENT_LOG_LEVEL", Value: a.LogLevel},
		{Name: "MIRRORD_AGENT_JSON_LOG", Value: b(a.JSONLog)},
		{Name: "MIRRORD_AGENT_STEALER_FLUSH_CONNECTIONS", Value: b(a.FlushConnections)},
		{Name: "MIRRORD_AGENT_EXTERNAL_IP_FIX", Value: b(a.ExternalIPFix)},
		{Name: "MIRRORD_AGENT_OVERRIDE_CACHE_CONTROL", Value: b(a.OverrideCacheControl)},
		{Name: "MIRRORD_AGENT_INJECT_HEADERS", Value: b(a.InjectHeaders)},
		{Name: "MIRRORD_MAX_BODY_BUFFER_SIZE", Value: strconv.Itoa(a.MaxBodyBufferSize)},
		{Name: "MIRRORD_MAX_BODY_BUFFER_TIMEOUT", Value: strconv.Itoa(a.MaxBodyBufferTimeout)},
		{Name: "MIRRORD_AGENT_HTTP_DETECTION_TIMEOUT", Value: strconv.Itoa(a.HTTPDetectionTimeout)},
		{Name: "MIRRORD_JAQ_TIME_LIMIT", Value: strconv.Itoa(a.JaqTimeLimit)},
	}
	if a.LogLevel == "" {
		env[1].Value = "info"
	}
	if a.DNS.Timeout != nil {
		env = append(env, corev1.EnvVar{Name: "MIRRORD_AGENT_DNS_TIMEOUT", Value: strconv.Itoa(*a.DNS.Timeout)})
	}
	if a.DNS.Attempts != nil {
		env = append(env, corev1.EnvVar{Name: "MIRRORD_AGENT_DNS_ATTEMPTS", Value: strconv.Itoa(*a.DNS.Attempts)})
	}
	if a.NFTables != nil {
		env = append(env, corev1.EnvVar{Name: "MIRRORD_AGENT_NFTABLES", Value: b(*a.NFTables)})
	}
	if a.CleanIptablesOnStart != nil {
		env = append(env, corev1.EnvVar{Name: "MIRRORD_AGENT_CLEAN_IPTABLES_ON_START", Value: b(*a.CleanIptablesOnStart)})
	}
	if a.Metrics != "" {
		env = append(env, corev1.EnvVar{Name: "MIRRORD_AGENT_METRICS", Value: a.Metrics})
	}
	if a.ExcludeFromMesh {
		env = append(env, corev1.EnvVar{Name: "MIRRORD_AGENT_EXCLUDE_FROM_MESH", Value: "true"})
	}
	if t := spec.Target; t != nil {
		if t.Mesh != "" {
			env = append(env, corev1.EnvVar{Name: "MIRRORD_AGENT_IN_SERVICE_MESH", Value: "true"})
			if t.Mesh == "istio-cni" {
				env = append(env, corev1.EnvVar{Name: "MIRRORD_AGENT_ISTIO_CNI", Value: "true"})
			}
		}
		var ips []string
		for _, ip := range t.Pod.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		if len(ips) > 0 {
			env = append(env, corev1.EnvVar{Name: "MIRRORD_AGENT_POD_IPS", Value: strings.Join(ips, ",")})
		}
		if a.Ephemeral && t.Pod.Spec.ShareProcessNamespace != nil && *t.Pod.Spec.ShareProcessNamespace {
			env = append(env, corev1.EnvVar{Name: "MIRRORD_AGENT_EPHEMERAL_TARGET_CONTAINER_ID", Value: t.ContainerID})
		}
	}
	return env
}

// securityContext is the agent container's: the capabilities a targeted or
// ephemeral agent needs (minus agent.disabled_capabilities), privileged as
// configured, a random group for the iptables owner match, and the
// configured AppArmor and seccomp profiles.
func securityContext(a schema.AgentConfig, gid int64, targeted bool) *corev1.SecurityContext {
	sc := &corev1.SecurityContext{}
	if targeted {
		var caps []corev1.Capability
		for _, c := range defaultCapabilities {
			if !slices.ContainsFunc(a.DisabledCapabilities, func(d string) bool {
				return strings.EqualFold(strings.TrimPrefix(strings.ToUpper(d), "CAP_"), c)
			}) {
				caps = append(caps, corev1.Capability(c))
			}
		}
		priv := a.Privileged
		sc.Privileged = &priv
		sc.RunAsGroup = &gid
		if len(caps) > 0 {
			sc.Capabilities = &corev1.Capabilities{Add: caps}
		}
	}
	if s := a.SecurityContext; s != nil {
		if p := s.AppArmorProfile; p != nil {
			sc.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileType(p.Type)}
			if p.LocalhostProfile != "" {
				lp := p.LocalhostProfile
				sc.AppArmorProfile.LocalhostProfile = &lp
			}
		}
		if p := s.SeccompProfile; p != nil {
			sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileType(p.Type)}
			if p.LocalhostProfile != "" {
				lp := p.LocalhostProfile
				sc.SeccompProfile.LocalhostProfile = &lp
			}
		}
	}
	return sc
}

// resources converts agent.resources, naming the key of a bad quantity.
func resources(r schema.ResourceRequirements) (corev1.ResourceRequirements, error) {
	out := corev1.ResourceRequirements{}
	conv := func(key string, in map[string]schema.Quantity) (corev1.ResourceList, error) {
		if len(in) == 0 {
			return nil, nil
		}
		l := corev1.ResourceList{}
		for name, v := range in {
			q, err := resource.ParseQuantity(string(v))
			if err != nil {
				return nil, fmt.Errorf("agent.resources.%s.%s: %q is not a Kubernetes quantity (e.g. \"100m\", \"128Mi\"): %w", key, name, v, err)
			}
			l[corev1.ResourceName(name)] = q
		}
		return l, nil
	}
	var err error
	if out.Requests, err = conv("requests", r.Requests); err != nil {
		return out, err
	}
	if out.Limits, err = conv("limits", r.Limits); err != nil {
		return out, err
	}
	for _, c := range r.Claims {
		out.Claims = append(out.Claims, corev1.ResourceClaim{Name: c.Name, Request: c.Request})
	}
	return out, nil
}

func tolerations(ts []schema.Toleration) []corev1.Toleration {
	var out []corev1.Toleration
	for _, t := range ts {
		out = append(out, corev1.Toleration{
			Key: t.Key, Operator: corev1.TolerationOperator(t.Operator), Value: t.Value,
			Effect: corev1.TaintEffect(t.Effect), TolerationSeconds: t.TolerationSeconds,
		})
	}
	return out
}

// agentMeta is the labels and annotations of the agent's Job and pod.
func agentMeta(a schema.AgentConfig) (labels, annotations map[string]string) {
	labels = map[string]string{}
	annotations = map[string]string{}
	for k, v := range a.Labels {
		labels[k] = v
	}
	for k, v := range a.Annotations {
		annotations[k] = v
	}
	if a.DisableMeshSidecarInjection {
		labels["kuma.io/sidecar-injection"] = "disabled"
		annotations["sidecar.istio.io/inject"] = "false"
		annotations["linkerd.io/inject"] = "disabled"
	}
	// Set last: `ls` and the target resolver recognise agents by it.
	labels[agentLabelKey] = agentLabelValue
	if len(annotations) == 0 {
		annotations = nil
	}
	return labels, annotations
}

// placement pins a targeted agent to its target's node.
type placement struct {
	nodeName     string
	nodeSelector map[string]string
}

// jobSpec builds the agent Job: targeted (place set) or targetless.
func jobSpec(spec AgentSpec, p agentParams, ns string, place *placement) (*batchv1.Job, error) {
	a := spec.Config
	targeted := spec.Target != nil
	res, err := resources(a.Resources)
	if err != nil {
		return nil, err
	}
	mode := "targetless"
	if targeted {
		mode = "targeted"
	}
	pull := corev1.PullPolicy(a.ImagePullPolicy)
	if pull == "" {
		pull = corev1.PullIfNotPresent
	}
	c := corev1.Container{
		Name:            AgentContainerName,
		Image:           spec.Image,
		ImagePullPolicy: pull,
		Args:            agentArgs(spec, p, mode),
		Env:             agentEnv(spec),
		Resources:       res,
		SecurityContext: securityContext(a, p.gid, targeted),
		// The last log lines become the termination message when the agent
		// fails, so the error shown to the user says why.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	links := false
	ps := corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever,
		Containers:         []corev1.Container{c},
		Tolerations:        tolerations(a.Tolerations),
		ServiceAccountName: a.ServiceAccount,
		PriorityClassName:  a.PriorityClass,
		// The agent never calls the API server and needs no service env.
		AutomountServiceAccountToken: boolPtr(a.ServiceAccount != ""),
		EnableServiceLinks:           &links,
	}
	for _, s := range a.ImagePullSecrets {
		if n := s["name"]; n != "" {
			ps.ImagePullSecrets = append(ps.ImagePullSecrets, corev1.LocalObjectReference{Name: n})
		}
	}
	if len(a.NodeSelector) > 0 {
		ps.NodeSelector = map[string]string{}
		for k, v := range a.NodeSelector {
			ps.NodeSelector[k] = v
		}
	}
	if targeted {
		ps.HostPID = true
		hostDir := corev1.HostPathDirectory
		ps.Volumes = []corev1.Volume{
			{Name: "hostrun", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run", Type: &hostDir}}},
			{Name: "hostvar", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var", Type: &hostDir}}},
		}
		ps.Containers[0].VolumeMounts = []corev1.VolumeMount{
			{Name: "hostrun", MountPath: "/host/run"},
			{Name: "hostvar", MountPath: "/host/var"},
		}
		if place != nil {
			ps.NodeName = place.nodeName
			for k, v := range place.nodeSelector {
				if ps.NodeSelector == nil {
					ps.NodeSelector = map[string]string{}
				}
				ps.NodeSelector[k] = v
			}
		}
	}
	labels, annotations := agentMeta(a)
	ttl := int32(a.TTL)
	backoff := int32(0)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: ns, Labels: labels, Annotations: annotations},
		Spec: batchv1.JobSpec{
			BackoffLimit:            &backoff,
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec:       ps,
			},
		},
	}, nil
}

// ephemeralSpec builds the agent as an ephemeral container of the target
// pod. Ephemeral containers take no resources, ports or probes.
func ephemeralSpec(spec AgentSpec, p agentParams) corev1.EphemeralContainer {
	a := spec.Config
	pull := corev1.PullPolicy(a.ImagePullPolicy)
	if pull == "" {
		pull = corev1.PullIfNotPresent
	}
	return corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name:                     p.name,
			Image:                    spec.Image,
			ImagePullPolicy:          pull,
			Args:                     agentArgs(spec, p, "ephemeral"),
			Env:                      agentEnv(spec),
			SecurityContext:          securityContext(a, p.gid, true),
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		},
		TargetContainerName: spec.Target.Container,
	}
}

func boolPtr(b bool) *bool { return &b }

// randomAlnum returns n random lowercase letters and digits.
func randomAlnum(n int) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", fmt.Errorf("generating the agent name: %w", err)
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}

// randInt returns a random integer in [lo, hi].
func randInt(lo, hi int64) (int64, error) {
	k, err := rand.Int(rand.Reader, big.NewInt(hi-lo+1))
	if err != nil {
		return 0, fmt.Errorf("generating a random agent parameter: %w", err)
	}
	return lo + k.Int64(), nil
}
