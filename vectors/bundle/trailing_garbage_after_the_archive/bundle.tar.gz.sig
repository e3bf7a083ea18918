untrusted comment: signature from airlock key b62e867fa2f33afe
RUS2LoZ/ovM6/hi/+6Ya3xp6+dZRS2d1vD+mmLtj4KzpseJqsdi0JYCYCXVgz7QvkfBEiUW4JWyH63SckE89141RkvcV6xvFdwQ=
trusted comment: bundle_id:bnd-00000000000000aa	product:gateway	version:1.0.0	key_id:b62e867fa2f33afe	timestamp:1795132800	file:b.tar.gz
nsAovqjztrEMjL9qU4L34eDohcpFncIYUYUepkrzkwBMOUPZfTS7x/o8RJQVBM4GvWf1zBj7Ef2SMZHdr2KxBg==
