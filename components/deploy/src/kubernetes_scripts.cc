// bin/kube/: applying the app to a cluster (the Secrets made from runtime-secrets/ at that
// moment, so that no value is ever in a manifest file) and running a command once.
// Both talk to the cluster only through $KUBECTL (default `kubectl`), which also carries
// the namespace and context: KUBECTL="kubectl --namespace shop".
#include <sstream>

#include "kubernetes.h"
#include "text.h"

namespace snap::deploy_plan {

namespace {

constexpr std::string_view kPreamble =
    "set -eu\n"
    "here=$(cd \"$(dirname \"$0\")/../..\" && pwd -P)\n"
    "kubectl=${KUBECTL:-kubectl}\n";

// An image reference without its tag or digest: what a kustomize `images` entry matches.
std::string image_name(std::string image) {
  image = image.substr(0, image.find('@'));
  const std::size_t slash = image.rfind('/');
  const std::size_t colon = image.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) image.resize(colon);
  return image;
}

// `secret NAME KEY FILE...`: one Secret document with the files' contents, base64 as its
// `data` takes them (read at this moment; the script holds only paths).
void write_secrets(std::ostream& out, const ServiceGraph& g) {
  out << "# A Secret manifest on stdout: NAME, then KEY FILE pairs (files relative to the build).\n"
         "secret() {\n"
         "  printf 'apiVersion: \"v1\"\\nkind: \"Secret\"\\nmetadata:\\n  name: \"%s\"\\n  labels:\\n    snap/app: \"%s\"\\n"
         "type: \"Opaque\"\\ndata:\\n' \"$1\" "
      << shell_quote(label_value(g.input.app_name))
      << "\n"
         "  shift\n"
         "  while [ $# -gt 0 ]; do\n"
         "    printf '  \"%s\": \"%s\"\\n' \"$1\" \"$(base64 -w 0 <\"$here/$2\")\"\n"
         "    shift 2\n"
         "  done\n"
         "}\n";
  bool any = false;
  std::ostringstream calls;
  for (const Service& s : g.services) {
    const std::vector<const DeploySecretFile*> mine = secrets_of(g, s);
    if (mine.empty()) continue;
    calls << (any ? "  echo ---\n" : "") << "  secret " << shell_quote(kube_secret_name(s));
    for (const DeploySecretFile* f : mine) calls << " " << shell_quote(key_for(f->secret)) << " " << shell_quote(f->path);
    calls << "\n";
    any = true;
  }
  if (any) out << "{\n" << calls.str() << "} | $kubectl apply -f -\n";
}

// The images: a kustomize overlay beside kubernetes/ replaces them when asked to.
void write_images(std::ostream& out, const ServiceGraph& g) {
  out << "# A kustomize `images` entry: the image named $1 becomes $2 (NAME[:TAG][@DIGEST]).\n"
         "image() {\n"
         "  to=$2 tag= digest=\n"
         "  case $to in *@*) digest=${to#*@} to=${to%%@*} ;; esac\n"
         "  case ${to##*/} in *:*) tag=${to##*:} to=${to%:*} ;; esac\n"
         "  printf '  - name: \"%s\"\\n    newName: \"%s\"\\n' \"$1\" \"$to\"\n"
         "  [ -z \"$tag\" ] || printf '    newTag: \"%s\"\\n' \"$tag\"\n"
         "  [ -z \"$digest\" ] || printf '    digest: \"%s\"\\n' \"$digest\"\n"
         "}\n"
         "dir=$here/kubernetes\n"
         "if [ -n \"${SNAP_IMAGE:-}${SNAP_POSTGRES_IMAGE:-}\" ]; then\n"
         "  dir=$(mktemp -d \"$here/.kube-images.XXXXXX\")\n"
         "  trap 'rm -rf \"$dir\"' EXIT\n"
         "  {\n"
         "    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\\nkind: Kustomization\\n'\n"
         "    printf 'resources:\\n  - \"../kubernetes\"\\nimages:\\n'\n"
         "    [ -z \"${SNAP_IMAGE:-}\" ] || image "
      << shell_quote("snap-" + g.app_file)
      << " \"$SNAP_IMAGE\"\n"
         "    [ -z \"${SNAP_POSTGRES_IMAGE:-}\" ] || image "
      << shell_quote(image_name(g.options.postgres_image))
      << " \"$SNAP_POSTGRES_IMAGE\"\n"
         "  } >\"$dir/kustomization.yaml\"\n"
         "fi\n"
         "$kubectl apply -k \"$dir\"\n";
}

// The template's line naming the app's image, as it reads there.
std::string image_line(const std::string& command_template, const ServiceGraph& g) {
  const std::string needle = "image: \"snap-" + g.app_file + "\"\n";
  const std::size_t at = command_template.find(needle);
  const std::size_t line = command_template.rfind('\n', at) + 1;
  return command_template.substr(line, at + needle.size() - 1 - line);
}

}  // namespace

std::string kube_apply_script(const ServiceGraph& g) {
  std::ostringstream out;
  out << "#!/bin/sh\n"
      << header(g.input.app_name)
      << "# Applies the app to the cluster and namespace $KUBECTL is set to (default `kubectl`; e.g.\n"
         "# KUBECTL=\"kubectl --namespace shop\"): first each service's Secret, made from the files in\n"
         "# runtime-secrets/ as it runs (no value is in a file of kubernetes/), then kubernetes/, with\n"
         "# the app's image replaced by $SNAP_IMAGE and the databases' by $SNAP_POSTGRES_IMAGE when set.\n"
         "# Usage: bin/kube/apply   (again after each build: only what changed is rolled out)\n"
      << kPreamble;
  write_secrets(out, g);
  write_images(out, g);
  return out.str();
}

std::string kube_command_script(const ServiceGraph& g, const Service& s) {
  const std::string job_template = kube_command_template(g, s);
  const std::string image = image_line(job_template, g);
  const std::string indent = image.substr(0, image.find('i'));
  std::ostringstream out;
  out << "#!/bin/sh\n"
      << header(g.input.app_name) << "# Runs the command " << s.component->id
      << " once on the cluster ($KUBECTL, as for bin/kube/apply), as a Job\n"
         "# of its own (its Secret, its network policy) against the deployment bin/kube/apply made,\n"
         "# prints its output and exits with its status. The Job is removed when it ends.\n"
         "# Usage: bin/kube/"
      << s.name << " [ARGS...]   (image: $SNAP_IMAGE, as for bin/kube/apply)\n"
      << kPreamble
      << "# The Job: kubernetes/commands/" << s.name
      << ".yaml with the image asked for and the arguments appended, each\n"
         "# a YAML single-quoted scalar.\n"
         "manifest() {\n"
         "  while IFS= read -r line; do\n"
         "    case $line in\n"
         "      "
      << shell_quote(image) << ") [ -z \"${SNAP_IMAGE:-}\" ] || line=\"" << indent
      << "image: \\\"$SNAP_IMAGE\\\"\" ;;\n"
         "    esac\n"
         "    printf '%s\\n' \"$line\"\n"
         "  done <\"$here/kubernetes/commands/"
      << s.name
      << ".yaml\"\n"
         "  for arg in \"$@\"; do\n"
         "    printf \"%s'%s'\\n\" "
      << shell_quote(kube_argument_prefix(job_template))
      << " \"$(printf '%s' \"$arg\" | sed \"s/'/''/g\")\"\n"
         "  done\n"
         "}\n"
         "job=$(manifest \"$@\" | $kubectl create -f - -o name)\n"
         "trap '$kubectl delete \"$job\" --ignore-not-found >/dev/null 2>&1' EXIT\n"
         "trap 'exit 130' INT TERM\n"
         "while :; do\n"
         "  state=$($kubectl get \"$job\" -o 'jsonpath={.status.succeeded}/{.status.failed}')\n"
         "  case $state in 1/* | */1) break ;; esac\n"
         "  sleep 1\n"
         "done\n"
         "$kubectl logs \"$job\"\n"
         "status=$($kubectl get pods -l \"batch.kubernetes.io/job-name=${job#*/}\" \\\n"
         "  -o 'jsonpath={.items[0].status.containerStatuses[0].state.terminated.exitCode}')\n"
         "exit \"${status:-1}\"\n";
  return out.str();
}

}  // namespace snap::deploy_plan
