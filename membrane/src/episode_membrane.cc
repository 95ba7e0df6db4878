#include "snap/episode_membrane.h"

#include <optional>

namespace snap {

namespace {

Divergence::Call call_of(const OwnedEvent& e) {
  return Divergence::Call{e.kind, e.key, e.request, e.file, e.line, e.function};
}

Divergence::Call call_of(const Membrane::Where& w, std::string_view kind, std::string_view key,
                         std::string_view request) {
  return Divergence::Call{std::string(kind), std::string(key), std::string(request), w.file_name(), w.line(),
                          w.function_name()};
}

void check_owner(std::thread::id owner, const Membrane::Where& where) {
  if (std::this_thread::get_id() != owner) {
    throw ThreadRuleError(std::string("snapshot: an episode's input was read from another thread at ") +
                          where.file_name() + ":" + std::to_string(where.line()) +
                          ": a handler's inputs are recorded on the thread that handles its request");
  }
}

}  // namespace

EpisodeRecordingMembrane::EpisodeRecordingMembrane(Env& env, const SecretSource& secrets)
    : Membrane(env, secrets), owner_(std::this_thread::get_id()) {}

Membrane::Reply EpisodeRecordingMembrane::exchange(const Ask& ask, const RealStep& real) {
  check_open(ask.where);
  check_owner(owner_, ask.where);
  Reply reply = real();
  events_.push_back(OwnedEvent{std::string(ask.kind), std::string(ask.key), std::string(ask.request), reply.kind,
                               reply.bytes, reply.integer, ask.where.file_name(), ask.where.line(),
                               ask.where.column(), ask.where.function_name()});
  return reply;
}

EpisodeReplayingMembrane::EpisodeReplayingMembrane(Env& env, const SecretSource& secrets,
                                                   const std::vector<OwnedEvent>& events, std::uint64_t first_index)
    : Membrane(env, secrets), events_(events), first_index_(first_index), owner_(std::this_thread::get_id()) {}

bool EpisodeReplayingMembrane::next_is(std::string_view kind, std::string_view key) {
  return position_ < events_.size() && events_[position_].kind == kind && events_[position_].key == key;
}

Membrane::Reply EpisodeReplayingMembrane::exchange(const Ask& ask, const RealStep& real) {
  (void)real;  // replay never does the real thing
  check_open(ask.where);
  check_owner(owner_, ask.where);
  const std::uint64_t index = first_index_ + position_;
  const auto diverge = [&](Divergence d) {
    note(d);
    throw d;
  };
  if (position_ >= events_.size()) {
    diverge(Divergence(Divergence::Reason::kLogExhausted, index, std::nullopt,
                       call_of(ask.where, ask.kind, ask.key, ask.request)));
  }
  const OwnedEvent& e = events_[position_];
  if (e.kind != ask.kind || e.key != ask.key) {
    diverge(Divergence(Divergence::Reason::kDifferentCall, index, call_of(e),
                       call_of(ask.where, ask.kind, ask.key, ask.request)));
  }
  if (e.request != ask.request) {
    diverge(Divergence(Divergence::Reason::kDifferentRequest, index, call_of(e),
                       call_of(ask.where, ask.kind, ask.key, ask.request)));
  }
  ++position_;
  return Reply{e.result_kind, e.bytes, e.integer};
}

void EpisodeReplayingMembrane::finish() const {
  if (position_ < events_.size()) {
    throw Divergence(Divergence::Reason::kEventsLeftOver, first_index_ + position_, call_of(events_[position_]),
                     std::nullopt, events_.size() - position_);
  }
}

}  // namespace snap
