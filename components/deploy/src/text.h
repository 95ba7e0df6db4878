// Text helpers the deployment writers share: YAML scalars as compose and stack files take
// them, sh words, the generated files' header, and the stable hash that names uids and
// swarm secrets. Private to snap::deploy.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace snap::deploy_plan {

std::string replace_all(std::string text, std::string_view from, std::string_view to);

// The "Written by `APP build`" comment every generated file starts with.
std::string header(const std::string& app);

// A YAML double-quoted scalar (the JSON subset), with compose's `$` interpolation
// escaped: nothing taken from the app is ever substituted by compose.
std::string quote(std::string_view text);
// A scalar that deliberately uses compose interpolation (`${VAR:-default}`).
std::string quote_interpolated(std::string_view variable, std::string_view fallback);
// ["a", "b"], each item quoted.
std::string flow_list(const std::vector<std::string>& items);
// A memory size as compose and stack files take it: the largest unit that divides it.
std::string size_text(std::uint64_t bytes);
// A word for sh, single-quoted.
std::string shell_quote(std::string_view text);

// FNV-1a: stable across platforms and versions, so uids and secret names stay put.
std::uint32_t fnv1a(std::string_view text);

// A file name for the binary: the app's name with only [A-Za-z0-9._-].
std::string file_name_for(std::string_view name);
// A compose key for a secret: [A-Za-z0-9._-].
std::string key_for(std::string_view text);
// The healthcheck of every daemon and database (compose and stack: write_healthcheck;
// Kubernetes: its probes), in seconds: a probe every `interval`, each allowed `timeout`;
// `retries` failures in a row make the container unhealthy; failures in the first
// `start_period` do not count until one probe passes.
struct HealthcheckRhythm {
  int interval;
  int timeout;
  int retries;
  int start_period;
};
inline constexpr HealthcheckRhythm kHealthcheck{2, 10, 5, 60};

}  // namespace snap::deploy_plan
