untrusted comment: signature from airlock key b62e867fa2f33afe
RUS2LoZ/ovM6/oawC7ASqY4XuXSEoNg1NuqiY8t0ICzZSxV0IkmAPFUACMuXMx7ZNqkO/OcgpKZNjS7YocVVIS+3XfPgXVvTEA8=
trusted comment: bundle_id:bnd-00000000000000aa	product:gateway	version:1.0.0	key_id:b62e867fa2f33afe	timestamp:1795132800	file:b.tar.gz
gx84oagjLhET9B2eC8LPM+Zt9Z45RHHf8w8Xl04UIHnoV/cNc+XO0tQMf6YhPacwj1lVveF8BzQYamDfOtUOBg==
