// upgrade: a program written for swarm_upgrade_e2e_test (docs/deploy.md, "Rolling updates on
// a swarm"): an API server and a caller, a daemon that calls it 20 times a second and says
// how each call went. Built in variants from this one source: SNAP_UPGRADE_VERSION "v1" and
// "v2", whose handler answers differently -- the change a rolling update deploys. The
// component tree is the same in both.
//
//   upgrade_v1 build --out DIR --replicas api=2
//
// The caller's log, one line per call and its totals when it stops (or reaches its bound):
//   call 17 ok: answered by v2
//   call 18 failed: unavailable: ...
//   call 19 failed: failed_precondition (version_skew): ...
//   totals: 1200 calls, 1199 ok, 1 failed (unavailable 1), 0 cut short by stop
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/logging.h"
#include "snap/main.h"
#include "snap/membrane.h"
#include "snap/persona.h"

#ifndef SNAP_UPGRADE_VERSION
#error "build with SNAP_UPGRADE_VERSION defined: \"v1\" or \"v2\""
#endif

struct Call {
  std::int64_t n = 0;
  std::string caller;  // the caller's version
};
BOOST_DESCRIBE_STRUCT(Call, (), (n, caller))

struct Answer {
  std::int64_t n = 0;
  std::string version;  // the server's
};
BOOST_DESCRIBE_STRUCT(Answer, (), (n, version))

namespace {

// The caller's bounds: it stops calling after this many calls or this long, whichever
// comes first, so that a deployment left behind does not call for ever.
constexpr std::int64_t kMaxCalls = 12'000;
constexpr std::chrono::minutes kMaxTime{10};
constexpr std::chrono::milliseconds kPause{50};

int call_until_stopped(snap::PersonaContext& ctx, const snap::Endpoint<Call, Answer>& call) {
  const auto start = ctx.membrane().steady_now();
  std::int64_t n = 0, ok = 0, cut = 0;
  std::map<std::string, std::int64_t> failed;  // by code
  ctx.log().info("caller {} starts", SNAP_UPGRADE_VERSION);
  while (n < kMaxCalls && ctx.membrane().steady_now() - start < kMaxTime && !ctx.stop_requested()) {
    ++n;
    try {
      const Answer answer = call(ctx, Call{n, SNAP_UPGRADE_VERSION});
      ++ok;
      ctx.log().info("call {} ok: answered by {}", n, answer.version);
    } catch (const snap::ApiError& e) {
      if (ctx.stop_requested()) {
        // The container is being replaced: a call waiting for a server gives up.
        ++cut;
        ctx.log().info("call {} cut short by stop: {}", n, e.message());
        break;
      }
      const std::string code(snap::to_string(e.code()));
      ++failed[code];
      // The reason, where there is one: version_skew when every replica that answered runs
      // another build and none of this build's answered in time (docs/api.md).
      ctx.log().warn("call {} failed: {}{}: {}", n, code, e.reason().empty() ? "" : " (" + e.reason() + ")", e.message());
    }
    ctx.wait_for_stop(kPause);
  }
  std::int64_t failures = 0;
  std::string by_code;
  for (const auto& [code, count] : failed) {
    failures += count;
    by_code += (by_code.empty() ? "" : ", ") + code + " " + std::to_string(count);
  }
  ctx.log().info("totals: {} calls, {} ok, {} failed{}, {} cut short by stop{}", n, ok, failures,
                 by_code.empty() ? "" : " (" + by_code + ")", cut,
                 ctx.stop_requested() ? "" : " (bound reached; calling no more)");
  ctx.wait_for_stop();
  return 0;
}

void define_app(snap::App& app) {
  auto& server = app.add<snap::ApiServer>("api");
  // Not idempotent (the default): a call that is lost once sent fails rather than being
  // sent again, so the caller's log shows every call the update lost.
  const snap::Endpoint<Call, Answer> call =
      server.endpoint<Call, Answer>("POST", "/api/call", [](snap::PersonaContext&, const Call& c) {
        return Answer{c.n, SNAP_UPGRADE_VERSION};
      });
  app.add<snap::Persona>("caller", snap::PersonaKind::kDaemon,
                         [call](snap::PersonaContext& ctx) { return call_until_stopped(ctx, call); })
      .uses(call);
}

}  // namespace

int main(int argc, char** argv) { return snap::run(argc, argv, "upgrade", define_app); }
