untrusted comment: signature from airlock key b62e867fa2f33afe
RUS2LoZ/ovM6/ixZS/bALlOYvdf+HM/aA9JXjk95Z/YDYBmVWYjy4Lp4sRX8mnhdeyxzgJK1pxp7eK+2+YhCtQEfv3s1glWj9AE=
trusted comment: bundle_id:bnd-00000000000000bb	product:gateway	version:1.0.0	key_id:b62e867fa2f33afe	timestamp:1795132800	file:b.tar.gz
KFddIOah7wj49/qHVty6IwGqEItkPfKFNDAX5wipPoZaW6697mhJUuFKkFoYWjNkeNXGwodmUuKOxyRFQT9PBA==
