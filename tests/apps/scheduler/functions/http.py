import asyncio

from reactor import AppError, HttpResponse, Int64, SseEvent, http_router

from .jobs import bump, counter, explode

http = http_router()


@http.route(path="/hello", method="GET")
async def hello(ctx, request):
    return HttpResponse.text(f"hello {request.query.get('name', 'world')}")


@http.route(path="/echo", method="POST")
async def echo(ctx, request):
    return HttpResponse.json({"method": request.method, "body": request.json(),
                              "header": request.header("X-Test")}, status=201)


@http.route(path_prefix="/files/", method="GET")
async def files(ctx, request):
    return HttpResponse.text(request.path)


@http.route(path_prefix="/files/deep/", method="GET")
async def deep_files(ctx, request):
    return HttpResponse.text("deep " + request.path)


@http.route(path="/bump", method="POST")
async def bump_counter(ctx, request):
    name = request.json()["name"]
    value = await ctx.run_mutation(bump, {"name": name})
    return HttpResponse.json({"value": value, "read": await ctx.run_query(counter,
                                                                        {"name": name})})


@http.route(path="/events", method="GET")
async def events(ctx, request):
    async def stream():
        for index in range(3):
            value = await ctx.run_mutation(bump, {"name": "sse"})
            yield SseEvent({"index": index, "counter": value}, event="tick", id=str(index))
            await asyncio.sleep(0.2)
        yield "done"
    return HttpResponse.sse(stream())


@http.route(path="/whoami", method="GET")
async def whoami(ctx, request):
    identity = await ctx.auth.get_user_identity()
    return HttpResponse.json(None if identity is None else identity["subject"])


@http.route(path="/boom", method="GET")
async def boom(ctx, request):
    print("about to fail")
    raise RuntimeError("kaboom")


@http.route(path="/refuse", method="GET")
async def refuse(ctx, request):
    raise AppError({"code": "NoWay", "limit": Int64(3)})


@http.route(path="/explode", method="GET")
async def explode_through(ctx, request):
    return await ctx.run_mutation(explode, {})


@http.route(path="/not-a-response", method="GET")
async def not_a_response(ctx, request):
    return {"oops": True}


@http.route(path="/env", method="GET")
async def env(ctx, request):
    return HttpResponse.json({"value": await ctx.env.get(request.query["name"])})


async def upload(ctx, request):
    return HttpResponse.json({"bytes": len(request.body)})


http.route(path="/upload", method="PUT", handler=upload)
