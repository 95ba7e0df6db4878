// The observability tests' program: two API servers, one calling the other, and a job that
// calls the first -- a request that crosses three processes when a `--local` build runs
// each persona with `run`. No store and no database: what the tests look at is what the
// library traces and counts on the request path.
//
//   caller (Job) --POST /front/work--> front (ApiServer) --POST /back/work--> back (ApiServer)
//
//   front  POST /front/work  {text}  -> calls back, answers {text: text + " front back"}
//          GET  /front/item  {id}    -> 200 {id, name} for id "1", 404 not_found otherwise
//   back   POST /back/work   {text}  -> {text: text + " back"}
//   caller prints "trace <32 hex digits>" (its run's trace id) and "result <text>" on stdout
#include <iostream>
#include <string>

#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/job.h"
#include "snap/main.h"
#include "snap/persona.h"

struct Work {
  std::string text;
};
BOOST_DESCRIBE_STRUCT(Work, (), (text))

struct ItemId {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(ItemId, (), (id))

struct Item {
  std::string id;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(Item, (), (id, name))

namespace {

void define_app(snap::App& app) {
  auto& back = app.add<snap::ApiServer>("back");
  const auto back_work =
      back.endpoint<Work, Work>("POST", "/back/work", [](const Work& work) { return Work{work.text + " back"}; });

  auto& front = app.add<snap::ApiServer>("front");
  front.uses(back_work);
  const auto front_work = front.endpoint<Work, Work>(
      "POST", "/front/work",
      [back_work](snap::PersonaContext& ctx, const Work& work) { return back_work(ctx, Work{work.text + " front"}); });
  front.endpoint<ItemId, Item>("GET", "/front/item", [](const ItemId& request) {
    if (request.id != "1") throw snap::ApiError(snap::ErrorCode::kNotFound, "no item " + request.id);
    return Item{"1", "one"};
  });

  app.add<snap::Job>("caller",
                     [front_work](snap::PersonaContext& ctx) {
                       std::cout << "trace " << ctx.span().context().trace_id.hex() << std::endl;
                       const Work result = front_work(ctx, Work{"job"});
                       std::cout << "result " << result.text << std::endl;
                       return 0;
                     })
      .uses(front_work);
}

}  // namespace

int main(int argc, char** argv) { return snap::run(argc, argv, "relay", define_app); }
