#include "postgres_connect.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <sys/socket.h>

#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>

namespace snap::store_detail {

std::vector<std::string> system_lookup(const std::string& host, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
    // libpq's wording, so that messages read the same whoever looked the name up.
    error = "could not translate host name \"" + host + "\" to address: " + ::gai_strerror(rc);
    return {};
  }
  std::vector<std::string> out;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = "";
    const void* where = a->ai_family == AF_INET
                            ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr)
                            : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr);
    if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
        ::inet_ntop(a->ai_family, where, text, sizeof text) == nullptr) {
      continue;
    }
    bool seen = false;
    for (const std::string& o : out) seen = seen || o == text;
    if (!seen) out.emplace_back(text);
  }
  ::freeaddrinfo(found);
  if (out.empty()) error = "could not translate host name \"" + host + "\" to address: no IP address";
  return out;
}

namespace {
// One lookup on its thread; callers wait on it, and may stop waiting before it ends.
struct Lookup {
  std::string host;
  std::chrono::steady_clock::time_point started;
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;  // guarded by mutex, as the two below
  std::vector<std::string> addresses;
  std::string error;
};
}  // namespace

struct BoundedLookup::State {
  std::chrono::milliseconds timeout;
  HostLookup lookup;
  std::mutex mutex;
  std::shared_ptr<Lookup> in_flight;  // guarded by mutex
};

BoundedLookup::BoundedLookup(std::chrono::milliseconds timeout, HostLookup lookup)
    : state_(std::make_shared<State>()) {
  state_->timeout = timeout;
  state_->lookup = std::move(lookup);
}

BoundedLookup::~BoundedLookup() = default;

std::vector<std::string> BoundedLookup::operator()(const std::string& host, std::string& error) {
  const auto now = std::chrono::steady_clock::now();
  std::shared_ptr<Lookup> lookup;
  {
    std::lock_guard lock(state_->mutex);
    if (const auto& f = state_->in_flight; f && f->host == host && now - f->started < state_->timeout) {
      std::lock_guard lookup_lock(f->mutex);
      if (!f->done) lookup = f;
    }
    if (!lookup) {
      lookup = std::make_shared<Lookup>();
      lookup->host = host;
      lookup->started = now;
      try {
        // The thread shares the lookup and the function, which may outlive this object.
        std::thread([lookup, state = state_] {
          std::string e;
          std::vector<std::string> found = state->lookup(lookup->host, e);
          std::lock_guard lookup_lock(lookup->mutex);
          lookup->addresses = std::move(found);
          lookup->error = std::move(e);
          lookup->done = true;
          lookup->finished.notify_all();
        }).detach();
      } catch (const std::system_error& e) {  // no thread to be had: a failed lookup
        error = "could not look up host name \"" + host + "\": " + e.what();
        return {};
      }
      state_->in_flight = lookup;
    }
  }
  std::unique_lock lock(lookup->mutex);
  if (!lookup->finished.wait_for(lock, state_->timeout, [&] { return lookup->done; })) {
    error = "could not translate host name \"" + host + "\" to address: no answer within " +
            std::to_string(state_->timeout.count()) + " ms";
    return {};
  }
  error = lookup->error;
  return lookup->addresses;  // a copy: other callers may read the same lookup
}

namespace {

// A libpq keyword value, quoted: any character works inside.
std::string quoted_value(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

bool is_ip_address(const std::string& host) {
  unsigned char bytes[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), bytes) == 1 || ::inet_pton(AF_INET6, host.c_str(), bytes) == 1;
}

// A name libpq would look up: not empty (libpq's default, a socket), not a socket
// directory (absolute, or @ for Linux's abstract namespace), not an address, not a list.
bool needs_lookup(const std::string& host) {
  return !host.empty() && host[0] != '/' && host[0] != '@' && host.find(',') == std::string::npos &&
         !is_ip_address(host);
}

}  // namespace

std::optional<std::string> attempt_connection(const std::string& connection, std::chrono::seconds connect_timeout,
                                              BoundedLookup& lookup, std::string& error) {
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(connection.c_str(), &parse_error);
  if (options == nullptr) {
    error = parse_error != nullptr ? parse_error : "the connection string does not parse";
    if (parse_error != nullptr) PQfreemem(parse_error);
    return std::nullopt;
  }
  std::string host;
  bool has_hostaddr = false;
  std::string out;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;  // not given
    const std::string keyword = o->keyword;
    if (keyword == "connect_timeout") continue;  // ours, below
    if (keyword == "host") host = o->val;
    if (keyword == "hostaddr" && *o->val != '\0') has_hostaddr = true;
    if (keyword == "host") continue;  // written below
    out += keyword + "=" + quoted_value(o->val) + " ";
  }
  PQconninfoFree(options);

  if (has_hostaddr || !needs_lookup(host)) {
    if (!host.empty()) out += "host=" + quoted_value(host) + " ";
  } else {
    const std::vector<std::string> addresses = lookup(host, error);
    if (addresses.empty()) return std::nullopt;
    // libpq pairs the lists: host i is connected to at hostaddr i, and keeps the name for
    // what it is used for (TLS verification, the password file, messages).
    std::string hosts, hostaddrs;
    for (const std::string& a : addresses) {
      hosts += (hosts.empty() ? "" : ",") + host;
      hostaddrs += (hostaddrs.empty() ? "" : ",") + a;
    }
    out += "host=" + quoted_value(hosts) + " hostaddr=" + quoted_value(hostaddrs) + " ";
  }
  out += "connect_timeout=" + std::to_string(connect_timeout.count());
  return out;
}

}  // namespace snap::store_detail
