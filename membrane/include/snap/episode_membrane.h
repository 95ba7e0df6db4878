// The membranes of one runtime episode (snap/episode.h): what a handler reads while it
// handles one request, recorded in memory as it happens, and replayed from memory.
//
//   EpisodeRecordingMembrane  does the real thing and keeps an event (secrets as handles)
//   EpisodeReplayingMembrane  returns the next kept event; a call that does not match it
//                             is a Divergence, as on startup replay
//
// Unlike the startup membranes they hold their events themselves (an episode is small,
// and most are dropped unwritten), and they belong to the request's thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "snap/membrane.h"

namespace snap {

class EpisodeRecordingMembrane final : public Membrane {
 public:
  // `env` and `secrets` must outlive the membrane. Clocks pass through exchange(), so
  // every read is kept.
  EpisodeRecordingMembrane(Env& env, const SecretSource& secrets);

  const std::vector<OwnedEvent>& events() const { return events_; }
  std::vector<OwnedEvent> take_events() { return std::move(events_); }

 protected:
  Reply exchange(const Ask& ask, const RealStep& real) override;

 private:
  std::vector<OwnedEvent> events_;
  std::thread::id owner_;
};

class EpisodeReplayingMembrane final : public Membrane {
 public:
  // `first_index` numbers events[0] in messages (the episode file's index of it).
  EpisodeReplayingMembrane(Env& env, const SecretSource& secrets, const std::vector<OwnedEvent>& events,
                           std::uint64_t first_index);

  // A Divergence (kEventsLeftOver) if the handler read fewer events than were recorded.
  void finish() const;
  std::uint64_t position() const { return position_; }
  // The first divergence this replay met, even if the handler caught it: replay reports
  // it whatever the handler answered. note() records one found outside exchange().
  const std::optional<Divergence>& divergence() const { return divergence_; }
  void note(const Divergence& d) {
    if (!divergence_) divergence_ = d;
  }
  // The index (as in the file) of the event replayed last.
  std::uint64_t last_index() const { return first_index_ + position_ - 1; }

 protected:
  Reply exchange(const Ask& ask, const RealStep& real) override;
  bool next_is(std::string_view kind, std::string_view key) override;

 private:
  const std::vector<OwnedEvent>& events_;
  std::uint64_t first_index_;
  std::uint64_t position_ = 0;
  std::thread::id owner_;
  std::optional<Divergence> divergence_;
};

}  // namespace snap
