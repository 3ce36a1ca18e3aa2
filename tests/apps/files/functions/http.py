from reactor import HttpResponse, http_router

http = http_router()


@http.route(path="/file", method="GET")
async def serve_file(ctx, request):
    """A stored file streamed back by an HTTP action."""
    storage_id = request.query.get("id", "")
    meta = await ctx.storage.get_metadata(storage_id)
    if meta is None:
        return HttpResponse.text("no such file", status=404)
    return HttpResponse(stream=await ctx.storage.stream(storage_id),
                        headers={"content-type": meta.get("contentType") or "",
                                 "content-length": str(int(meta["size"]))})
