untrusted comment: signature from airlock key b62e867fa2f33afe
RUS2LoZ/ovM6/hga7+JKtJe3SB02TKpBoIWEdvjclXzPRBRYyNyK+FlJm/6jJPcx5yi15Ye879Fa22fGnEV4/8woN+2EAY/V/gk=
trusted comment: bundle_id:bnd-00000000000000aa	product:gateway	version:1.0.0	key_id:b62e867fa2f33afe	timestamp:1795132800	file:b.tar.gz
dqv+29yZ12AHmAQdISNtjWd1WbMfyCnRrzmbc1a15U5Gza75LZibwuffBAOK3095WMYDXYeoxl2eVuqlQDfSAw==
