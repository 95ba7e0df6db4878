#include "episode_store.h"

#include <algorithm>

#include "../store/src/store_backend.h"
#include "snap/divergence.h"
#include "snap/episode.h"
#include "snap/episode_membrane.h"
#include "snap/membrane.h"
#include "snap/trace.h"

namespace snap {

namespace {

// Event kinds: part of an episode's meaning, like the membrane's own.
namespace kind {
constexpr std::string_view kGet = "store.get";
constexpr std::string_view kHas = "store.has";
constexpr std::string_view kSet = "store.set";
constexpr std::string_view kDel = "store.del";
constexpr std::string_view kModify = "store.modify";
constexpr std::string_view kKeys = "store.keys";
constexpr std::string_view kIndex = "store.index";
}  // namespace kind

// A reply: {"ok": RESULT} (the bytes boost::json::serialize gives that object) or
// {"error": {"code": N, "message": TEXT}} for a StoreError, which replay throws again.
std::string ok(const json& result) { return "{\"ok\":" + boost::json::serialize(result) + "}"; }

template <typename F>
std::string outcome(F&& f) {
  try {
    return ok(f());
  } catch (const StoreError& e) {
    return boost::json::serialize(boost::json::object{
        {"error", boost::json::object{{"code", static_cast<int>(e.code())}, {"message", e.what()}}}});
  }
}

[[noreturn]] void bad_reply(std::string_view what) {
  throw LogError(LogErrorCode::kCorrupt, "the episode's " + std::string(what) + " reply is not a store result");
}

// The result of a reply, or the StoreError it recorded, thrown.
json result_of(std::string_view reply, std::string_view what) {
  boost::system::error_code ec;
  json v = boost::json::parse(reply, ec);
  if (ec || !v.is_object()) bad_reply(what);
  auto& o = v.get_object();
  if (auto* result = o.if_contains("ok")) return std::move(*result);
  const auto* error = o.if_contains("error");
  if (error == nullptr || !error->is_object()) bad_reply(what);
  const auto* code = error->get_object().if_contains("code");
  const auto* message = error->get_object().if_contains("message");
  if (code == nullptr || !code->is_int64() || code->get_int64() < 0 ||
      code->get_int64() > static_cast<int>(StoreError::Code::kBackend) || message == nullptr || !message->is_string()) {
    bad_reply(what);
  }
  throw StoreError(static_cast<StoreError::Code>(code->get_int64()), std::string(message->get_string()));
}

class EpisodeBackend final : public StoreBackend {
 public:
  EpisodeBackend(Episode& episode, std::function<JsonStore&()> real, std::string table, std::vector<std::string> indexes,
                 std::string system)
      : episode_(episode),
        real_(std::move(real)),
        table_(std::move(table)),
        indexes_(std::move(indexes)),
        system_(std::move(system)) {}

  const std::string& name() const override { return table_; }
  std::string_view system() const override { return system_; }
  bool has_index(std::string_view index) const override {
    return std::find(indexes_.begin(), indexes_.end(), index) != indexes_.end();
  }

  std::optional<json> get(std::string_view key) override {
    json r = exchange(kind::kGet, key, {}, [&] {
      auto v = real().get(key);
      return v ? std::move(*v) : json(nullptr);
    });
    if (r.is_null()) return std::nullopt;
    return r;
  }
  bool has(std::string_view key) override {
    const json r = exchange(kind::kHas, key, {}, [&] { return json(real().has(key)); });
    if (!r.is_bool()) bad_reply(kind::kHas);
    return r.get_bool();
  }
  void set(std::string_view key, const json& value) override {
    exchange(kind::kSet, key, boost::json::serialize(value), [&] {
      real().set(key, value);
      return json(true);
    });
  }
  bool del(std::string_view key) override {
    const json r = exchange(kind::kDel, key, {}, [&] { return json(real().del(key)); });
    if (!r.is_bool()) bad_reply(kind::kDel);
    return r.get_bool();
  }
  // The reply keeps what the function saw, so that replay runs it on the same value; what
  // it writes must then be what was written, or the handler has changed.
  std::optional<json> modify(std::string_view key,
                             const std::function<std::optional<json>(const std::optional<json>&)>& fn) override {
    Membrane& m = episode_.membrane();
    const std::string reply = m.operation(kind::kModify, event_key(key), {}, [&] {
      std::optional<json> seen;
      bool threw = false;  // the function threw (an insert of a key that is there): replay runs it again
      const auto with_seen = [&](boost::json::object o) {
        o["seen"] = seen ? *seen : json(nullptr);
        if (threw) o["threw"] = true;
        return boost::json::serialize(o);
      };
      try {
        const std::optional<json> stored = real().update(key, [&](const std::optional<json>& current) {
          seen = current;
          threw = true;
          std::optional<json> next = fn(current);
          threw = false;
          return next;
        });
        return with_seen({{"ok", stored ? *stored : json(nullptr)}});
      } catch (const StoreError& e) {
        return with_seen(
            {{"error", boost::json::object{{"code", static_cast<int>(e.code())}, {"message", e.what()}}}});
      } catch (...) {
        if (threw) return with_seen({});
        throw;
      }
    }, where());
    boost::system::error_code ec;
    json v = boost::json::parse(reply, ec);
    if (ec || !v.is_object() || !v.get_object().contains("seen")) bad_reply(kind::kModify);
    const json& seen_value = v.get_object().at("seen");
    const std::optional<json> seen = seen_value.is_null() ? std::nullopt : std::optional<json>(seen_value);
    if (v.get_object().contains("threw")) {
      fn(seen);  // throws as it did
      bad_reply(kind::kModify);
    }
    const json result = result_of(reply, kind::kModify);  // throws a recorded StoreError
    if (episode_.replaying()) {
      // The function may have changed: it must write what the episode recorded.
      const std::optional<json> now = fn(seen);
      const json written = now ? *now : json(nullptr);
      if (written != result) {
        EpisodeReplayingMembrane* replaying = episode_.replayer();
        Divergence d(Divergence::Reason::kDifferentRequest, replaying ? replaying->last_index() : 0,
                         Divergence::Call{std::string(kind::kModify), event_key(key), boost::json::serialize(result)},
                         Divergence::Call{std::string(kind::kModify), event_key(key), boost::json::serialize(written)},
                         0, "the handler's modify of \"" + std::string(key) + "\" now writes another value");
        if (replaying != nullptr) replaying->note(d);
        throw d;
      }
    }
    if (result.is_null()) return std::nullopt;
    return result;
  }
  std::vector<std::string> keys(const KeyPage& page) override {
    const json r = exchange(kind::kKeys, page.after, std::to_string(page.limit), [&] {
      boost::json::array out;
      for (std::string& k : real().keys(page)) out.emplace_back(std::move(k));
      return json(std::move(out));
    });
    if (!r.is_array()) bad_reply(kind::kKeys);
    std::vector<std::string> out;
    for (const auto& k : r.get_array()) {
      if (!k.is_string()) bad_reply(kind::kKeys);
      out.emplace_back(k.get_string());
    }
    return out;
  }
  std::vector<IndexMatch> index_get(std::string_view index, std::string_view index_key) override {
    const json r = exchange(kind::kIndex, index_key, index, [&] {
      boost::json::array out;
      for (IndexMatch& m : real().index_get(index, index_key)) {
        out.push_back(boost::json::array{json(m.key), std::move(m.inline_value)});
      }
      return json(std::move(out));
    });
    if (!r.is_array()) bad_reply(kind::kIndex);
    std::vector<IndexMatch> out;
    for (const auto& m : r.get_array()) {
      if (!m.is_array() || m.get_array().size() != 2 || !m.get_array()[0].is_string()) bad_reply(kind::kIndex);
      out.push_back(IndexMatch{std::string(m.get_array()[0].get_string()), m.get_array()[1]});
    }
    return out;
  }

 private:
  // The program's call to the store, which the event names.
  static std::source_location where() {
    const std::source_location* site = store_detail::current_call_site();
    return site != nullptr ? *site : std::source_location::current();
  }

  // "TABLE:KEY": a table name is [a-z0-9_], so the first ':' ends it.
  std::string event_key(std::string_view key) const { return table_ + ":" + std::string(key); }

  template <typename F>
  json exchange(std::string_view kind_name, std::string_view key, std::string_view request, F&& real_step) {
    // Recording, the result is the store's own (the reply is only its record): parsing the
    // reply back cost a recorded read ~2,800 instructions (bench/README.md, "Recording
    // requests (episodes)"). Replaying, the real step never runs and the reply is parsed.
    std::optional<json> fresh;
    const std::string reply = episode_.membrane().operation(
        kind_name, event_key(key), request,
        [&] {
          return outcome([&]() -> const json& {
            fresh = real_step();
            return *fresh;
          });
        },
        where());
    if (fresh) return std::move(*fresh);
    return result_of(reply, kind_name);
  }

  // The real store, reached without a current span: this view's span stands for the
  // operation (the real store still counts it in its metrics).
  class Real {
   public:
    explicit Real(JsonStore& store) : store_(store) {}
    JsonStore* operator->() { return &store_; }
    std::optional<json> get(std::string_view key) { NoCurrentSpan none; return store_.get(key); }
    bool has(std::string_view key) { NoCurrentSpan none; return store_.has(key); }
    void set(std::string_view key, const json& v) { NoCurrentSpan none; store_.set(key, v); }
    bool del(std::string_view key) { NoCurrentSpan none; return store_.del(key); }
    std::optional<json> update(std::string_view key,
                               const std::function<std::optional<json>(const std::optional<json>&)>& fn) {
      NoCurrentSpan none;
      return store_.update(key, fn);
    }
    std::vector<std::string> keys(const KeyPage& page) { NoCurrentSpan none; return store_.keys(page); }
    std::vector<IndexMatch> index_get(std::string_view index, std::string_view index_key) {
      NoCurrentSpan none;
      return store_.index(index).get(index_key);
    }

   private:
    JsonStore& store_;
  };
  Real real() { return Real(real_()); }

  Episode& episode_;
  std::function<JsonStore&()> real_;
  std::string table_;
  std::vector<std::string> indexes_;
  std::string system_;
};

}  // namespace

std::unique_ptr<JsonStore> make_episode_store(Episode& episode, std::function<JsonStore&()> real, std::string table,
                                              std::vector<std::string> indexes, std::string system) {
  return std::make_unique<JsonStore>(std::make_unique<EpisodeBackend>(episode, std::move(real), std::move(table),
                                                                      std::move(indexes), std::move(system)));
}

}  // namespace snap
