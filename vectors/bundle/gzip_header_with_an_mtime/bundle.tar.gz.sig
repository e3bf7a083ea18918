untrusted comment: signature from airlock key b62e867fa2f33afe
RUS2LoZ/ovM6/vO0arEXnCKFBA7pKxC/oa998mA/D4YrdC3ofDeOKGsqaxOaHQvc+edzfyDCUzwDWohWUWFFmgnmbJvpdcTaBw4=
trusted comment: bundle_id:bnd-00000000000000aa	product:gateway	version:1.0.0	key_id:b62e867fa2f33afe	timestamp:1795132800	file:b.tar.gz
agjysAxwLB3nVzvuIN9RkeFOEiYoQDwKb3U0xEeIH0aB/YZPIInfxm0xhwUx6J/3Qzman7MOuVVrMm2IBqWbBQ==
