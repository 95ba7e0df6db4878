// Calls between builds (docs/api.md, "Version skew"). A rolling update runs two builds of
// the program side by side, and a call from one to the other is where upgrades fail: a
// field the old caller does not send, a response it cannot read. So every typed call over
// HTTP names its caller's build (App::build_id) in a Snap-Build header, and each server
// compares it with its own: `strict` refuses a call from another build before its handler
// runs, so the caller can try a replica of its own build; `warn` serves it and says so.
// Private to snap_api.
#pragma once

#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "build_header.h"
#include "snap/api_server.h"
#include "snap/request.h"
#include "snap/metrics.h"

namespace spdlog {
class logger;
}

namespace snap::api_detail {

inline constexpr std::string_view kVersionSkewReason = "version_skew";
inline constexpr std::string_view kVersionSkewVariable = "SNAP_VERSION_SKEW";

// The policy a server runs with: its option, else `deployment` ($SNAP_VERSION_SKEW),
// else warn. Throws std::invalid_argument naming the server for a value other than
// "strict" or "warn".
VersionSkew resolve_version_skew(VersionSkew option, const std::optional<std::string>& deployment,
                                 const std::string& server);
std::string_view to_string(VersionSkew policy);

// One server's check. Thread safety: check() may run on any number of threads at once.
class VersionSkewCheck {
 public:
  // `own_build` and `server` (its id, for messages) must outlive the check; `counted` is
  // the family snap_http_server_version_skew_total {server, peer_build, action}.
  VersionSkewCheck(VersionSkew policy, const std::string& own_build, std::string server, std::string server_label,
                   CounterFamily& counted, spdlog::logger& log);

  // Nothing when the request is to be served (no Snap-Build header, this build's, or
  // another build's under warn); else why it is refused, the message of the
  // failed_precondition error (reason kVersionSkewReason) to answer with. The refusal
  // carries this server's build in its own Snap-Build header: that tells the caller it was
  // refused by another build, not by a handler.
  std::optional<std::string> check(std::span<const Header> headers);

  VersionSkew policy() const { return policy_; }

 private:
  // The label value for a peer build: its id when it looks like one, else "invalid"
  // (a header from outside may hold anything; label values stay bounded).
  static std::string_view label_of(std::string_view peer);
  // True the first time this peer build is seen (at most kRemembered are remembered).
  bool first_time(std::string_view peer);

  static constexpr std::size_t kRemembered = 64;
  const VersionSkew policy_;
  const std::string& own_build_;
  const std::string server_;
  const std::string server_label_;
  CounterFamily& counted_;
  spdlog::logger& log_;
  std::mutex mutex_;
  std::set<std::string, std::less<>> seen_;  // guarded by mutex_
};

}  // namespace snap::api_detail
