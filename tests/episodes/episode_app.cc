#include "episode_app.h"

#include <iostream>

#include "snap/job.h"
#include "snap/membrane.h"
#include "snap/persona.h"

namespace snap::episodetest {

void define_episode_app(App& app, const Variant& variant, Endpoints& out) {
  auto& accounts = app.add<KeyValueStore>("accounts");
  out.accounts = &accounts;
  auto& other = app.add<ApiServer>("other");
  out.double_it = other.endpoint<Number, Number>("GET", "/double/{n}", [](const Number& x) { return Number{x.n * 2}; });

  auto& api = app.add<ApiServer>("api");
  api.uses(accounts).uses(other);
  const Endpoint<Number, Number> double_it = out.double_it;
  // Fails only for some data (a charge over the balance) at some clock readings (an odd
  // second): the bug the tests bring back.
  out.charge = api.endpoint<Charge, Receipt>(
      "POST", "/charge", [&accounts, &variant](PersonaContext& ctx, const Charge& c) {
        const auto now = ctx.membrane().wall_now();
        const std::int64_t second =
            std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() % 60;
        if (variant.extra_clock_read) (void)ctx.membrane().wall_now();
        Store<Account> store = accounts.open<Account>(ctx);
        if (variant.reads_another_key) (void)store.get("audit-" + c.account);
        const std::optional<Account> account = store.get(c.account);
        if (!account) throw ApiError(ErrorCode::kNotFound, "no account " + c.account);
        if (c.amount > account->balance) {
          if (variant.fixed) throw ApiError(ErrorCode::kFailedPrecondition, "insufficient balance");
          if (second % 2 == 1) throw std::runtime_error("balance went negative");
        }
        const Account after = store.modify(c.account, [&](const std::optional<Account>& a) {
          return Account{(a ? a->balance : 0) - c.amount};
        });
        return Receipt{c.account, after.balance, second};
      });
  out.quadruple = api.endpoint<Number, Number>("GET", "/quadruple/{n}", [double_it, &variant](PersonaContext& ctx, const Number& x) {
    const Number twice = double_it(ctx, Number{variant.different_request ? x.n + 1 : x.n});
    if (variant.extra_call) (void)double_it(ctx, Number{0});
    return double_it(ctx, twice);
  });
  out.open_account = api.endpoint<Account, void>("POST", "/accounts", [&accounts](PersonaContext& ctx, const Account& a) {
    // The account's name is a random id: a recorded input too.
    const std::string id = "acct-" + std::to_string(ctx.membrane().random_int(1, 3));
    accounts.open<Account>(ctx).set(id, a);
  });
  auto& key = app.add<Secret>("api-key");
  auto& guarded = app.add<ApiServer>("guarded");
  guarded.authenticate(bearer_token(key));
  out.whoami = guarded.endpoint<void, std::string>(
      "GET", "/whoami", [](PersonaContext& ctx) { return ctx.request().principal()->subject; });
  out.secret_length = guarded.endpoint<void, Number>("GET", "/secret-length", [&key](PersonaContext& ctx) {
    return Number{static_cast<std::int64_t>(key.value(ctx).size())};
  });
  // `caller charge ACCOUNT AMOUNT`: one charge, from another process when deployed.
  const Endpoint<Charge, Receipt> charge = out.charge;
  app.add<Persona>("caller", PersonaKind::kCommand,
                   [charge](PersonaContext& ctx) {
                     const std::vector<std::string>& args = ctx.args();
                     if (args.size() != 3 || args[0] != "charge") return 0;
                     try {
                       const Receipt r = charge(ctx, Charge{args[1], std::stoll(args[2])});
                       std::cout << "balance " << r.balance << std::endl;
                       return 0;
                     } catch (const ApiError& e) {
                       std::cout << "error " << to_string(e.code()) << ": " << e.message() << std::endl;
                       return 1;
                     }
                   })
      .uses(api)
      .uses(accounts)
      .uses(guarded)
      .uses(key);
}

}  // namespace snap::episodetest
