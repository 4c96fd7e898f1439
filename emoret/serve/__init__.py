"""``emoret serve``: a live search page and a JSON API over an index.

Needs the ``serve`` extra (``pip install 'emoret[serve]'``: Starlette and uvicorn).

- :mod:`emoret.serve.holder`: the index and its query encoder, loaded once, reloaded in the
  background when ``emoret index`` publishes a new version (searches keep the old one until then);
- :mod:`emoret.serve.batcher`: the searches that arrive together, answered by one library call;
- :mod:`emoret.serve.library`: the video files a server may send (only those the index holds);
- :mod:`emoret.serve.app`: the ASGI app (``create_app``): the page, ``/api/search``, ``/api/health``,
  the videos (with HTTP ranges) and their thumbnails;
- :mod:`emoret.serve.run`: who may connect (``exposure``), binding, and serving with uvicorn.
"""
