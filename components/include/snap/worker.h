// Worker: a long-running daemon persona that calls `tick` every `interval` until stopped.
//
//   app.add<snap::Worker>("mailer", std::chrono::seconds(1), [](snap::PersonaContext& ctx) {
//     send_pending_mail(ctx);
//   });
//
// Stopping is prompt: the wait between ticks ends as soon as stop is requested. Each tick
// is a trace of its own (a root span "tick NAME"; ctx.span() inside it).
//
// Thread safety: tick runs on the persona's thread only.
#pragma once

#include <chrono>
#include <functional>

#include "snap/persona.h"

namespace snap {

class Worker final : public Persona {
 public:
  using Tick = std::function<void(PersonaContext&)>;
  Worker(const Init& init, std::chrono::milliseconds interval, Tick tick);
  boost::json::object config() const override;

 private:
  std::chrono::milliseconds interval_;
};

}  // namespace snap
