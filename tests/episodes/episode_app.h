// The program the episode tests record and replay: a store of accounts behind an API
// server whose handlers read the clock, the store and another server, and a `Variant`
// that changes what they do -- today's binary, as it differs from the one that recorded.
#pragma once

#include <optional>
#include <string>

#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/key_value_store.h"
#include "snap/password.h"

namespace snap::episodetest {

struct Charge {
  std::string account;
  std::int64_t amount = 0;
};
BOOST_DESCRIBE_STRUCT(Charge, (), (account, amount))

struct Receipt {
  std::string account;
  std::int64_t balance = 0;
  std::int64_t at_second = 0;  // of the minute
};
BOOST_DESCRIBE_STRUCT(Receipt, (), (account, balance, at_second))

struct Number {
  std::int64_t n = 0;
};
BOOST_DESCRIBE_STRUCT(Number, (), (n))

struct Account {
  std::int64_t balance = 0;
};
BOOST_DESCRIBE_STRUCT(Account, (), (balance))

// How today's program differs from the recorded one (all false: the same program).
struct Variant {
  bool fixed = false;            // charging more than the balance is a clear error, not a crash
  bool reads_another_key = false;
  bool extra_call = false;       // calls the other server once more
  bool different_request = false;  // asks the other server for n + 1
  bool extra_clock_read = false;
};

struct Endpoints {
  Endpoint<Charge, Receipt> charge;       // POST /charge
  Endpoint<Number, Number> quadruple;     // GET /quadruple/{n}: calls "other" twice
  Endpoint<Number, Number> double_it;     // other's GET /double/{n}
  Endpoint<Account, void> open_account;   // POST /accounts: a random account id
  Endpoint<void, std::string> whoami;     // guarded's GET /whoami: bearer token api-key
  Endpoint<void, Number> secret_length;   // guarded's GET /secret-length: reads api-key's value
  const KeyValueStore* accounts = nullptr;
};

// The api-key secret's value in the tests' dev apps.
inline constexpr const char* kApiKeyValue = "s3cr3t-key-value";

// The app "episodes"; `variant` must outlive it.
void define_episode_app(App& app, const Variant& variant, Endpoints& out);

}  // namespace snap::episodetest
