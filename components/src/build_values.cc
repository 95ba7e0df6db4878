#include <boost/json.hpp>
#include <set>

#include "snap/app.h"
#include "snap/membrane.h"
#include "snap/password.h"
#include "snap/persona.h"
#include "snap/port.h"
#include "snap/env.h"
#include "snap/worker.h"

namespace snap {

// ---- Port ----

Port::Port(const Init& init) : Component(init, "Port") {
  BuildState& state = app().build_state();
  boost::json::object ports;
  if (auto v = state.get("ports"); v && v->is_object()) ports = v->as_object();
  // In a --local build, the numbers other --local builds on this host hold (the build
  // puts them in the recorded state): their personas share this host's ports.
  std::set<std::int64_t> held_elsewhere;
  if (auto v = state.get("snap.ports-held-elsewhere"); v && v->is_array()) {
    for (const auto& n : v->as_array()) {
      if (n.is_int64()) held_elsewhere.insert(n.as_int64());
    }
  }
  if (auto it = ports.find(id().str()); it != ports.end() && it->value().is_int64() &&
                                         !held_elsewhere.count(it->value().as_int64())) {
    number_ = static_cast<std::uint16_t>(it->value().as_int64());
    return;
  }
  std::set<std::int64_t> taken = held_elsewhere;
  for (const auto& [key, value] : ports) {
    if (value.is_int64() && key != id().str()) taken.insert(value.as_int64());
  }
  // Builds mark the state they record (kPortsBelowEphemeralKey, replay/src/build.cc); a log
  // recorded before numbers started at kFirstPort has no mark, and replaying it makes the
  // old choice again (a new number is not read from the state, it is chosen anew).
  const bool replaying = app().mode() == Mode::kRun || app().mode() == Mode::kVerify;
  const bool old_log = replaying && !state.get("snap.ports-below-ephemeral");
  const std::int64_t first = old_log ? kFirstPortBefore20000 : kFirstPort;
  const std::int64_t last = old_log ? 65535 : kLastPort;
  std::int64_t candidate = first;
  while (taken.count(candidate)) ++candidate;
  if (candidate > last) {
    throw Error(ErrorCode::kResourceExhausted, "build.ports",
                "no free port in " + std::to_string(first) + "-" + std::to_string(last));
  }
  number_ = static_cast<std::uint16_t>(candidate);
  ports[id().str()] = candidate;
  state.set("ports", std::move(ports));
}

boost::json::object Port::config() const { return {{"port", number_}}; }

// ---- Password / Secret ----

namespace {
std::string hex_random(Env& system, std::size_t bytes) {
  std::string raw(bytes, '\0');
  system.random_bytes(raw.data(), raw.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}
}  // namespace

std::string secret_name_for(std::string_view id) {
  const std::size_t dot = id.find('.');
  std::string name(dot == std::string_view::npos ? id : id.substr(dot + 1));
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  return name;
}

Password::Password(const Init& init) : Component(init, "Password"), secret_name_(secret_name_for(id().str())) {
  app().provide_generated_secret(secret_name_, [](Env& system) { return hex_random(system, kRandomBytes); });
}

std::string Password::value(const PersonaContext& ctx, std::source_location where) const {
  return ctx.secret(*this, secret_name_, where);
}

Secret::Secret(const Init& init) : Component(init, "Secret"), secret_name_(secret_name_for(id().str())) {
  app().require_supplied_secret(secret_name_);
}

std::string Secret::value(const PersonaContext& ctx, std::source_location where) const {
  return ctx.secret(*this, secret_name_, where);
}

// ---- Worker ----

Worker::Worker(const Init& init, std::chrono::milliseconds interval, Tick tick)
    : Persona(
          init, PersonaKind::kDaemon,
          [interval, tick = std::move(tick), name = "tick " + init.id.name()](PersonaContext& context) {
            while (!context.stop_requested()) {
              {
                // Each tick is a trace of its own; a tick that throws ends the persona,
                // as before, with the span marked failed.
                PersonaSpan span(context, name, SpanKind::kInternal);
                try {
                  tick(context);
                } catch (const std::exception& e) {
                  span.span().set_error(e.what());
                  throw;
                }
              }
              if (context.wait_for_stop(interval)) break;
            }
            return 0;
          },
          "Worker"),
      interval_(interval) {}

boost::json::object Worker::config() const { return {{"interval_ms", interval_.count()}}; }

}  // namespace snap
