untrusted comment: signature from airlock key b62e867fa2f33afe
RUS2LoZ/ovM6/nSarnh/+cb+r7/WMgZudpwXFoSpM0J+WeMvAR4jkK2KzOILM/asG/rAXashQpoBBj9vuSZiI8iFHdUijJ897gk=
trusted comment: bundle_id:bnd-00000000000000aa	product:gateway	version:1.0.0	key_id:b62e867fa2f33afe	timestamp:1795132800	file:b.tar.gz
T/CtI/cSGyDzoVSz6n/WFFJsEsQkIWrjtBHPrB5pvFBCNevmu1+GI1ZUBxs9pFIwXoIYoMM6nvNjkKvlKGgjBA==
