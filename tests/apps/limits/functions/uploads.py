"""An upload URL, for the catalogue's upload limits."""

from reactor import mutation


@mutation
async def url(ctx):
    return await ctx.storage.generate_upload_url()
