#include "snap/store.h"

#include <cstdint>
#include <cstdio>

#include "snap/metrics.h"
#include "snap/trace.h"
#include "store_backend.h"

namespace snap {

namespace {
// FNV-1a: a stable digest for table names (std::hash may differ between builds).
std::uint32_t fnv1a(std::string_view bytes, std::uint32_t h = 2166136261u) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

ErrorCode canonical_code(StoreError::Code code) {
  using C = StoreError::Code;
  switch (code) {
    case C::kInvalidArgument: return ErrorCode::kInvalidArgument;
    case C::kUnavailable: return ErrorCode::kUnavailable;
    case C::kConflict: return ErrorCode::kAborted;
    case C::kAlreadyExists: return ErrorCode::kAlreadyExists;
    case C::kInDoubt: return ErrorCode::kUnavailable;  // retryable as an outage is, after a check
    case C::kConversion:
    case C::kBackend: break;
  }
  return ErrorCode::kInternal;
}

std::string detail_name(StoreError::Code code) {
  using C = StoreError::Code;
  switch (code) {
    case C::kConversion: return "store.conversion";
    case C::kInvalidArgument: return "store.invalid_argument";
    case C::kUnavailable: return "store.unavailable";
    case C::kConflict: return "store.conflict";
    case C::kAlreadyExists: return "store.already_exists";
    case C::kInDoubt: return "store.in_doubt";
    case C::kBackend: return "store.backend";
  }
  return "store";
}
}  // namespace

StoreError::StoreError(Code code, const std::string& message)
    : Error(canonical_code(code), detail_name(code), message), code_(code) {}

using store_detail::printable;

std::vector<CheckedEntry> index_entries(const std::string& store, const IndexSpec& spec, std::string_view key,
                                        const json& value) {
  std::vector<IndexEntry> entries = spec.indexer(key, value);
  std::vector<CheckedEntry> out;
  out.reserve(entries.size());
  for (IndexEntry& e : entries) {
    if (e.index_key.empty()) {
      throw StoreError(StoreError::Code::kInvalidArgument, "index \"" + spec.name + "\" of store \"" + store +
                                                               "\": the indexer returned an empty index key for key " +
                                                               printable(key));
    }
    const auto for_key = [&](const char* what) {
      return "index \"" + spec.name + "\" of store \"" + store + "\": for key " + printable(key) + ", the " + what;
    };
    store_detail::check_text(e.index_key, [&] { return for_key("index key"); });
    auto facts = store_detail::check_value(e.inline_value, [&] { return for_key("inline value"); });
    out.push_back(CheckedEntry{std::move(e.index_key), std::move(e.inline_value), facts});
  }
  return out;
}

void check_options(const StoreOptions& options) {
  const auto refuse = [&](const std::string& why) {
    throw StoreError(StoreError::Code::kInvalidArgument, "store \"" + options.name + "\": " + why);
  };
  if (options.name.empty()) refuse("the store name is empty");
  for (std::size_t i = 0; i < options.indexes.size(); ++i) {
    const IndexSpec& spec = options.indexes[i];
    if (spec.name.empty()) refuse("index " + std::to_string(i) + " has no name");
    if (!spec.indexer) refuse("index \"" + spec.name + "\" has no indexer");
    for (std::size_t j = 0; j < i; ++j) {
      if (options.indexes[j].name == spec.name) refuse("two indexes are named \"" + spec.name + "\"");
    }
  }
}

void check_key(const std::string& store, std::string_view key) {
  store_detail::check_text(key, [&] { return "store \"" + store + "\": key"; });
}

store_detail::ValueFacts check_value(const std::string& store, std::string_view key, const json& value) {
  return store_detail::check_value(value,
                                   [&] { return "store \"" + store + "\": the value for key " + printable(key); });
}

std::string safe_identifier(std::string_view name) {
  constexpr std::size_t kMax = 63;
  std::string out;
  bool changed = false;
  for (char c : name) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
      out += c;
    } else if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
      changed = true;
    } else {
      out += '_';
      changed = true;
    }
  }
  if (out.empty() || !(out[0] >= 'a' && out[0] <= 'z')) {
    out.insert(0, "t_");
    changed = true;
  }
  if (out.size() > kMax) changed = true;
  if (!changed) return out;
  const std::uint32_t h = fnv1a(name);  // of the original name
  char suffix[10];
  std::snprintf(suffix, sizeof suffix, "_%08x", h);
  if (out.size() > kMax - 9) out.resize(kMax - 9);
  return out + suffix;
}

std::string index_table_name(std::string_view table, std::string_view index) {
  // `table` is a safe identifier, so it holds no NUL: table, NUL, index encodes the pair
  // unambiguously.
  const std::uint32_t h = fnv1a(index, fnv1a(std::string_view("\0", 1), fnv1a(table)));
  std::string base = safe_identifier(std::string(table) + "__" + std::string(index));
  char suffix[10];
  std::snprintf(suffix, sizeof suffix, "_%08x", h);
  if (base.size() > 63 - 9) base.resize(63 - 9);
  return base + suffix;
}

// The store's series, made once: an operation costs atomic increments, no lookup.
struct store_detail::StoreMetrics {
  static constexpr std::string_view kOperations[] = {"get", "set", "has", "del", "modify", "insert", "keys", "index_get"};
  static constexpr std::size_t kCount = std::size(kOperations);
  StoreMetrics(MetricsRegistry& registry, const std::string& store) : family(&registry.counter(
      "snap_store_operations_total", "Store operations, by store, operation and outcome (ok, or the error's code).",
      {"store", "operation", "outcome"})), name(store) {
    HistogramFamily& seconds = registry.histogram("snap_store_operation_duration_seconds",
                                                  "Time a store operation took, retries included.",
                                                  {"store", "operation"});
    for (std::size_t i = 0; i < kCount; ++i) {
      duration[i] = seconds.with({store, kOperations[i]});
      ok[i] = family->with({store, kOperations[i], "ok"});
    }
  }
  static std::size_t index_of(std::string_view operation) {
    for (std::size_t i = 0; i < kCount; ++i) {
      if (kOperations[i] == operation) return i;
    }
    return 0;
  }
  CounterFamily* family;
  std::string name;
  Histogram duration[kCount];
  Counter ok[kCount];
};

namespace {

// A store operation as a span of the request it serves (the current span of this thread;
// none outside a traced request): "OPERATION TABLE", client kind, with the database
// semantic conventions' attributes; and, when the store is counted, its outcome and time.
// A StoreError marks the span failed and is counted by its code.
// Where the operation was asked for, while it runs (store_detail::current_call_site).
thread_local const std::source_location* t_call_site = nullptr;
class CallSiteScope {
 public:
  explicit CallSiteScope(const std::source_location& where) : previous_(t_call_site) { t_call_site = &where; }
  ~CallSiteScope() { t_call_site = previous_; }
  CallSiteScope(const CallSiteScope&) = delete;
  CallSiteScope& operator=(const CallSiteScope&) = delete;

 private:
  const std::source_location* previous_;
};

template <typename F>
auto traced(StoreBackend& backend, store_detail::StoreMetrics* metrics, std::string_view operation,
            const std::source_location& where, F&& run) {
  const CallSiteScope site(where);
  const auto started = std::chrono::steady_clock::now();
  const std::size_t op = store_detail::StoreMetrics::index_of(operation);
  const auto done = [&] {
    if (metrics != nullptr) {
      metrics->duration[op].observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
  };
  Span span;
  if (current_span_context() != nullptr) {
    span = start_child_span(std::string(operation) + " " + backend.name(), SpanKind::kClient);
    if (span.recording()) {
      span.set("db.system.name", backend.system()).set("db.operation.name", operation);
      span.set("db.collection.name", backend.name());
    }
  }
  try {
    if constexpr (std::is_void_v<decltype(run())>) {
      run();
      done();
      if (metrics != nullptr) metrics->ok[op].inc();
    } else {
      auto result = run();
      done();
      if (metrics != nullptr) metrics->ok[op].inc();
      return result;
    }
  } catch (const StoreError& e) {
    done();
    const std::string_view code = to_string(static_cast<const Error&>(e).code());
    if (metrics != nullptr) metrics->family->with({metrics->name, operation, code}).inc();
    span.set("snap.error_code", code);
    span.set_error(e.what());
    throw;
  }
}

}  // namespace

const std::source_location* store_detail::current_call_site() { return t_call_site; }

std::vector<IndexMatch> Index::get(std::string_view index_key, std::source_location where) const {
  store_detail::check_text(index_key,
                           [&] { return "index \"" + name_ + "\" of store \"" + backend_->name() + "\": index key"; });
  return traced(*backend_, metrics_, "index_get", where, [&] { return backend_->index_get(name_, index_key); });
}

JsonStore::JsonStore(std::unique_ptr<StoreBackend> backend, MetricsRegistry* metrics)
    : backend_(std::move(backend)),
      metrics_(metrics != nullptr ? std::make_unique<store_detail::StoreMetrics>(*metrics, backend_->name()) : nullptr) {}
JsonStore::~JsonStore() = default;

const std::string& JsonStore::name() const { return backend_->name(); }

std::optional<json> JsonStore::get(std::string_view key, std::source_location where) const {
  check_key(name(), key);
  return traced(*backend_, metrics_.get(), "get", where, [&] { return backend_->get(key); });
}
void JsonStore::set(std::string_view key, const json& value, std::source_location where) {
  check_key(name(), key);
  traced(*backend_, metrics_.get(), "set", where, [&] { backend_->set(key, value); });
}
bool JsonStore::has(std::string_view key, std::source_location where) const {
  check_key(name(), key);
  return traced(*backend_, metrics_.get(), "has", where, [&] { return backend_->has(key); });
}
bool JsonStore::del(std::string_view key, std::source_location where) {
  check_key(name(), key);
  return traced(*backend_, metrics_.get(), "del", where, [&] { return backend_->del(key); });
}
json JsonStore::modify(std::string_view key, const std::function<json(const std::optional<json>&)>& fn,
                       std::source_location where) {
  check_key(name(), key);
  return *traced(*backend_, metrics_.get(), "modify", where, [&] {
    return backend_->modify(key, [&](const std::optional<json>& current) { return std::optional<json>(fn(current)); });
  });
}
std::optional<json> JsonStore::update(std::string_view key,
                                      const std::function<std::optional<json>(const std::optional<json>&)>& fn,
                                      std::source_location where) {
  check_key(name(), key);
  return traced(*backend_, metrics_.get(), "modify", where, [&] { return backend_->modify(key, fn); });
}
void JsonStore::insert(std::string_view key, const json& value, std::source_location where) {
  check_key(name(), key);
  traced(*backend_, metrics_.get(), "insert", where, [&] {
    backend_->modify(key, [&](const std::optional<json>& current) -> std::optional<json> {
      if (current) {
        throw StoreError(StoreError::Code::kAlreadyExists,
                         "store \"" + name() + "\": key " + store_detail::printable(key) + " already exists");
      }
      return value;
    });
  });
}
std::vector<std::string> JsonStore::keys(const KeyPage& page, std::source_location where) const {
  if (!page.after.empty()) {
    store_detail::check_text(page.after, [&] { return "store \"" + name() + "\": keys after"; });
  }
  if (page.limit == 0) return {};
  return traced(*backend_, metrics_.get(), "keys", where, [&] { return backend_->keys(page); });
}

void JsonStore::for_each_key(const std::function<bool(const std::string&)>& visit, std::size_t page_size,
                             std::source_location where) const {
  const CallSiteScope site(where);
  if (page_size == 0) {
    throw StoreError(StoreError::Code::kInvalidArgument, "store \"" + name() + "\": for_each_key with page size 0");
  }
  KeyPage page{"", page_size};
  while (true) {
    const auto batch = backend_->keys(page);
    for (const auto& k : batch) {
      if (!visit(k)) return;
    }
    if (batch.size() < page_size) return;
    page.after = batch.back();
  }
}

Index JsonStore::index(std::string_view name) const {
  if (!backend_->has_index(name)) {
    throw StoreError(StoreError::Code::kInvalidArgument,
                     "store \"" + this->name() + "\" has no index \"" + std::string(name) + "\"");
  }
  return Index(*backend_, std::string(name), metrics_.get());
}

}  // namespace snap
