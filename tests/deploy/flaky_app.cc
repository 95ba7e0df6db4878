// flaky: a program written for episodes_e2e_test, with the kind of bug a recorded request
// brings back: its handler fails only for some data at some moments. A ledger's API server
// keeps accounts in PostgreSQL; POST /api/charge charges one. A charge over the balance is
// let through at an even second of the wall clock (the account goes negative) and, at an
// odd second, throws an exception the handler does not catch: a 500, `internal`. The
// clock is read through ctx.membrane(), so the reading is one of the episode's inputs.
//
// Built with SNAP_FLAKY_FIXED (the flaky_fixed target) it is the fixed program: such a
// charge is refused as failed_precondition (412). The same build log replays in both: the
// fix changes a handler, not the components.
//
//   flaky build --out DIR --secret ledger-key=VALUE --publish api=PORT
//   POST /api/accounts {"id": "alice", "balance": 10}
//   POST /api/charge {"account": "alice", "amount": 25}
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/key_value_store.h"
#include "snap/main.h"
#include "snap/membrane.h"
#include "snap/password.h"
#include "snap/persona.h"
#include "snap/postgres.h"

struct Account {
  std::string id;
  std::int64_t balance = 0;
};
BOOST_DESCRIBE_STRUCT(Account, (), (id, balance))

struct Charge {
  std::string account;
  std::int64_t amount = 0;
};
BOOST_DESCRIBE_STRUCT(Charge, (), (account, amount))

struct Receipt {
  std::string account;
  std::int64_t balance = 0;
  std::int64_t second = 0;  // of the minute the charge was made at
};
BOOST_DESCRIBE_STRUCT(Receipt, (), (account, balance, second))

namespace {

void define_app(snap::App& app) {
  snap::Component& ledger = app.scope("ledger");
  auto& db = ledger.add<snap::Postgres>("db");
  auto& accounts = ledger.add<snap::KeyValueStore>("accounts", db);
  // What the ledger signs its receipts with: a secret the handler reads, so that its
  // episodes hold the secret's handle (never its value).
  auto& key = ledger.add<snap::Secret>("ledger-key");
  auto& server = ledger.add<snap::ApiServer>("api");
  server.uses(accounts).uses(key);

  server.endpoint<Account, void>("POST", "/api/accounts", [&accounts](snap::PersonaContext& ctx, const Account& a) {
    accounts.open<Account>(ctx).set(a.id, a);
  });
  server.endpoint<Charge, Receipt>(
      "POST", "/api/charge", [&accounts, &key](snap::PersonaContext& ctx, const Charge& c) {
        if (key.value(ctx).empty()) throw snap::ApiError(snap::ErrorCode::kFailedPrecondition, "no ledger key");
        const std::int64_t second = std::chrono::duration_cast<std::chrono::seconds>(
                                        ctx.membrane().wall_now().time_since_epoch())
                                        .count() %
                                    60;
        snap::Store<Account> store = accounts.open<Account>(ctx);
        const std::optional<Account> account = store.get(c.account);
        if (!account) throw snap::ApiError(snap::ErrorCode::kNotFound, "no account " + c.account);
        if (c.amount > account->balance) {
#ifdef SNAP_FLAKY_FIXED
          throw snap::ApiError(snap::ErrorCode::kFailedPrecondition,
                               "account " + c.account + " holds " + std::to_string(account->balance) + ", less than " +
                                   std::to_string(c.amount));
#else
          if (second % 2 == 1) throw std::runtime_error("overdraft check failed at second " + std::to_string(second));
#endif
        }
        const Account after = store.modify(c.account, [&](const std::optional<Account>& a) {
          return Account{c.account, (a ? a->balance : 0) - c.amount};
        });
        return Receipt{c.account, after.balance, second};
      });
}

}  // namespace

int main(int argc, char** argv) { return snap::run(argc, argv, "flaky", define_app); }
