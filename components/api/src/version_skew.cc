#include "version_skew.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

namespace snap::api_detail {

namespace {

bool looks_like_build(std::string_view id) {
  if (id.size() != 12) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string_view to_string(VersionSkew policy) {
  switch (policy) {
    case VersionSkew::kByDeployment: return "by deployment";
    case VersionSkew::kStrict: return "strict";
    case VersionSkew::kWarn: return "warn";
  }
  return "?";
}

VersionSkew resolve_version_skew(VersionSkew option, const std::optional<std::string>& deployment,
                                 const std::string& server) {
  if (option != VersionSkew::kByDeployment) return option;
  if (!deployment || deployment->empty()) return VersionSkew::kWarn;
  if (*deployment == "strict") return VersionSkew::kStrict;
  if (*deployment == "warn") return VersionSkew::kWarn;
  throw std::invalid_argument("ApiServer " + server + ": " + std::string(kVersionSkewVariable) + "=\"" + *deployment +
                              "\": expected strict or warn");
}

VersionSkewCheck::VersionSkewCheck(VersionSkew policy, const std::string& own_build, std::string server,
                                   std::string server_label, CounterFamily& counted, spdlog::logger& log)
    : policy_(policy),
      own_build_(own_build),
      server_(std::move(server)),
      server_label_(std::move(server_label)),
      counted_(counted),
      log_(log) {}

std::string_view VersionSkewCheck::label_of(std::string_view peer) { return looks_like_build(peer) ? peer : "invalid"; }

bool VersionSkewCheck::first_time(std::string_view peer) {
  std::lock_guard lock(mutex_);
  if (seen_.size() >= kRemembered || seen_.contains(peer)) return false;
  seen_.emplace(peer);
  return true;
}

std::optional<std::string> VersionSkewCheck::check(std::span<const Header> headers) {
  // RequestInfo's lookup (the first such header, its name compared without regard to case).
  const std::optional<std::string_view> sent = RequestInfo({}, {}, headers).header(kBuildHeader);
  if (!sent || *sent == own_build_) return std::nullopt;
  const std::string_view peer = *sent;
  const bool strict = policy_ == VersionSkew::kStrict;
  counted_.with({server_label_, label_of(peer), strict ? "refused" : "served"}).inc();
  const std::string shown = looks_like_build(peer) ? std::string(peer) : "\"" + std::string(label_of(peer)) + "\"";
  if (first_time(label_of(peer))) {
    log_.warn("calls from build {} reach this server of build {}: {} (version skew policy {})", shown, own_build_,
              strict ? "refused, so that its callers try a replica of their own build" : "served",
              to_string(policy_));
  }
  if (!strict) return std::nullopt;
  return "version skew: this call comes from build " + shown + " and " + server_ + " runs build " + own_build_ +
         "; it is refused so that the caller retries on a replica of its own build";
}

}  // namespace snap::api_detail
