// The Kubernetes writers (kubernetes.cc, kubernetes_scripts.cc): the objects of each
// service as JSON values, their YAML, and the scripts of bin/kube/. Private to snap::deploy.
#pragma once

#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "service_graph.h"

namespace snap::deploy_plan {

// kubernetes/*.yaml, kubernetes/commands/*.yaml, bin/kube/*.
std::vector<DeployFile> kubernetes_files(const ServiceGraph& g);

// One object per YAML document: block style, every string double-quoted (JSON's
// escapes), keys in the order they were added. Deterministic, and a subset every YAML
// parser reads alike.
std::string yaml_documents(const std::vector<boost::json::value>& objects);

// A label value (at most 63 of [A-Za-z0-9._-], alphanumeric at both ends) for `text`.
std::string label_value(std::string_view text);

// What a command's Job is created from, one run at a time: kubernetes/commands/NAME.yaml.
// It ends in the container's argument list, so that bin/kube/NAME appends the command's
// arguments as further lines; the prefix of such a line is kube_argument_prefix().
std::string kube_command_template(const ServiceGraph& g, const Service& s);
std::string kube_argument_prefix(const std::string& command_template);

// bin/kube/apply: each service's Secret from runtime-secrets/, then kubernetes/.
std::string kube_apply_script(const ServiceGraph& g);
// bin/kube/NAME: the command run once as a Job, its output and exit status its own.
std::string kube_command_script(const ServiceGraph& g, const Service& s);

// Names the objects share.
std::string kube_secret_name(const Service& s);  // NAME-secrets
std::string kube_account_name(const ServiceGraph& g);  // the app's ServiceAccount
// The labels every object of the app carries (app), and those that select a service's pods.
boost::json::object app_labels(const ServiceGraph& g);
boost::json::object selector_labels(const ServiceGraph& g, const Service& s);

}  // namespace snap::deploy_plan
