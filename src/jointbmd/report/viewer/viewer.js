// jointbmd viewer: scene.czml on an offline Cesium globe (see report/viewer/__init__.py).
// Everything it loads comes from this folder: Cesium's build, its Natural Earth II imagery,
// basemap.geojson (coastlines and borders) and scene.czml. window.jointbmdView exposes the
// state the browser tests read.
"use strict";

const view = (window.jointbmdView = { ready: false, error: null });

function kindOf(entity) {
  return entity.id.split("/", 1)[0];
}

function prop(entity, name, time) {
  const bag = entity.properties;
  if (!bag || !bag.hasProperty(name)) return undefined;
  return bag[name].getValue(time);
}

function swatch(colour) {
  const span = document.createElement("span");
  span.style.background = colour;
  return span;
}

function checkbox(container, label, colour, onChange) {
  const row = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.checked = true;
  box.dataset.name = label;
  box.addEventListener("change", () => onChange(box.checked));
  row.append(box);
  if (colour) row.append(swatch(colour));
  row.append(document.createTextNode(" " + label));
  container.append(row);
}

function showRecord(entity, time) {
  const panel = document.getElementById("record");
  const text = entity ? prop(entity, "record", time) : undefined;
  const record = text ? JSON.parse(text) : undefined;
  if (!record) {
    panel.hidden = true;
    return;
  }
  document.getElementById("record-title").textContent = entity.name || entity.id;
  const body = document.getElementById("record-body");
  body.replaceChildren();
  for (const [key, value] of Object.entries(record)) {
    const row = body.insertRow();
    row.insertCell().textContent = key;
    row.insertCell().textContent = describe(value);
  }
  panel.hidden = false;
}

function describe(value) {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value)) {
    return value.map((v) => (typeof v === "object" ? compact(v) : String(v))).join("\n");
  }
  if (typeof value === "object") {
    return Object.entries(value)
      .map(([k, v]) => `${k}: ${typeof v === "object" && v !== null ? compact(v) : v}`)
      .join("\n");
  }
  return String(value);
}

function compact(object) {
  return Object.entries(object)
    .map(([k, v]) => `${k}=${v === null ? "—" : v}`)
    .join(", ");
}

function timeline(viewer, events, epoch) {
  const list = document.getElementById("events");
  const items = events.map((event) => {
    const li = document.createElement("li");
    const who = [event.partner, event.threat_id === null ? null : `T${event.threat_id}`]
      .filter((x) => x !== null)
      .join(" ");
    li.textContent = `${event.t_s.toFixed(1)} s  ${event.kind}  ${who}  ${event.detail}`;
    li.title = event.time;
    li.addEventListener("click", () => {
      viewer.clock.currentTime = Cesium.JulianDate.fromIso8601(event.time);
    });
    list.append(li);
    return { li, time: Cesium.JulianDate.fromIso8601(event.time) };
  });
  const clockLabel = document.getElementById("clock");
  let last = -1;
  viewer.clock.onTick.addEventListener((clock) => {
    const now = clock.currentTime;
    const seconds = Cesium.JulianDate.secondsDifference(now, epoch);
    const second = Math.floor(seconds);
    if (second === last) return;
    last = second;
    clockLabel.textContent = `T+${second} s`;
    let current = null;
    for (const item of items) {
      const past = Cesium.JulianDate.lessThanOrEquals(item.time, now);
      item.li.classList.toggle("past", past);
      item.li.classList.remove("current");
      if (past) current = item;
    }
    if (current) {
      current.li.classList.add("current");
      current.li.scrollIntoView({ block: "nearest" });
    }
  });
}

async function main() {
  const imagery = await Cesium.TileMapServiceImageryProvider.fromUrl(
    Cesium.buildModuleUrl("Assets/Textures/NaturalEarthII"),
    { maximumLevel: 2 },
  );
  const viewer = new Cesium.Viewer("globe", {
    baseLayer: new Cesium.ImageryLayer(imagery),
    baseLayerPicker: false,
    geocoder: false,
    sceneModePicker: false,
    navigationHelpButton: false,
    fullscreenButton: false,
    infoBox: false,
    homeButton: false,
    shouldAnimate: true,
    // Light on the GPU (or on a software renderer): no multisampling, no atmosphere effects.
    msaaSamples: 1,
    skyAtmosphere: false,
  });
  const globe = viewer.scene.globe;
  globe.enableLighting = false;
  globe.showGroundAtmosphere = false;
  globe.baseColor = Cesium.Color.fromCssColorString("#0b2340");
  viewer.scene.fog.enabled = false;
  view.viewer = viewer;
  view.frames = 0;
  viewer.scene.postRender.addEventListener(() => view.frames++);

  const basemap = await Cesium.GeoJsonDataSource.load("basemap.geojson", {
    stroke: Cesium.Color.fromCssColorString("#d8d8d8").withAlpha(0.7),
    strokeWidth: 1,
  });
  await viewer.dataSources.add(basemap);
  const source = await Cesium.CzmlDataSource.load("scene.czml");
  await viewer.dataSources.add(source);
  view.source = source;
  viewer.clock.shouldAnimate = true;

  const run = JSON.parse(prop(source.entities.getById("jointbmd"), "run"));
  const epoch = Cesium.JulianDate.fromIso8601(run.epoch);
  document.getElementById("title").textContent = `${run.scenario} — ${run.arrangement}`;
  document.getElementById("run").textContent =
    `replication ${run.replication}, seed ${run.seed}; epoch ${run.epoch}`;

  const legend = document.getElementById("legend");
  for (const partner of [...run.partners, run.centre]) {
    const li = document.createElement("li");
    li.append(swatch(run.colours[partner]), partner);
    legend.append(li);
  }
  for (const item of run.legend) {
    const li = document.createElement("li");
    li.append(swatch(item.colour), item.label);
    legend.append(li);
  }
  for (const note of run.notes) {
    const li = document.createElement("li");
    li.textContent = note;
    document.getElementById("notes").append(li);
  }

  const layerOn = {};
  const partnerOn = {};
  const graphics = source.entities.values.filter((e) => prop(e, "layer") !== undefined);
  const apply = () => {
    for (const entity of graphics) {
      entity.show = layerOn[prop(entity, "layer")] && partnerOn[prop(entity, "partner")];
    }
  };
  for (const layer of Object.keys(run.counts)) {
    layerOn[layer] = true;
    checkbox(document.getElementById("layers"), layer, null, (on) => {
      layerOn[layer] = on;
      apply();
    });
  }
  for (const partner of [...run.partners, "none"]) {
    partnerOn[partner] = true;
    const label = partner === "none" ? `shared / ${run.centre} / threats' origin` : partner;
    checkbox(document.getElementById("partners"), label, run.colours[partner], (on) => {
      partnerOn[partner] = on;
      apply();
    });
  }

  timeline(viewer, run.timeline, epoch);
  viewer.selectedEntityChanged.addEventListener((entity) =>
    showRecord(entity, viewer.clock.currentTime),
  );
  document.getElementById("record-close").addEventListener("click", () => {
    viewer.selectedEntity = undefined;
  });

  viewer.camera.setView({
    destination: Cesium.Cartesian3.fromDegrees(
      run.camera.lon_deg,
      run.camera.lat_deg,
      run.camera.height_m,
    ),
  });

  // For the tests (and the curious, from the console).
  view.run = run;
  view.counts = () => {
    const counts = {};
    for (const entity of graphics) counts[kindOf(entity)] = (counts[kindOf(entity)] || 0) + 1;
    return counts;
  };
  view.secondsNow = () => Cesium.JulianDate.secondsDifference(viewer.clock.currentTime, epoch);
  view.setSeconds = (seconds) => {
    viewer.clock.currentTime = Cesium.JulianDate.addSeconds(epoch, seconds, new Cesium.JulianDate());
  };
  view.screenOf = (id) => {
    const entity = source.entities.getById(id);
    const position = entity.position.getValue(viewer.clock.currentTime);
    if (!position) return null;
    const transform =
      Cesium.SceneTransforms.worldToWindowCoordinates ||
      Cesium.SceneTransforms.wgs84ToWindowCoordinates;
    const xy = transform(viewer.scene, position);
    return xy ? { x: xy.x, y: xy.y } : null;
  };
  view.ready = true;
}

main().catch((error) => {
  view.error = String((error && error.stack) || error);
  console.error(view.error);
});
