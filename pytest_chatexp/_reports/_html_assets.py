"""The HTML viewer's inline style sheet (``_html``): nothing is fetched."""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
:root{--fg:#1d2330;--muted:#5d6675;--line:#d9dee6;--bg:#fff;--panel:#f6f7f9;
--pass:#1f7a3a;--pass-bg:#eaf6ee;--pass-line:#9fd3ae;--fail:#b3261e;--fail-bg:#fdeceb;
--fail-line:#f0a8a3;--neutral-bg:#f3f4f6;--accent:#2456c5;
--warn:#8a5a00;--warn-bg:#fff4df;--warn-line:#f0c36d;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
font-size:15px;line-height:1.45;color:var(--fg);background:var(--bg)}
*{box-sizing:border-box}
body{margin:0;padding:0 1rem 3rem}
a{color:var(--accent)}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:#fff;padding:.25rem}
header.top{padding:1rem 0 .5rem}
h1{font-size:1.35rem;margin:0 0 .6rem;display:flex;gap:.6rem;align-items:center}
h2{font-size:1.1rem;margin:0 0 .6rem;display:flex;gap:.5rem;align-items:baseline;flex-wrap:wrap}
h3{font-size:1rem;margin:1rem 0 .5rem}
.totals{display:flex;flex-wrap:wrap;gap:.5rem;margin:0}
.fact{background:var(--panel);border:1px solid var(--line);border-radius:6px;
padding:.35rem .75rem;min-width:7.5rem}
.fact.bad{background:var(--fail-bg);border-color:var(--fail-line)}
.fact dt{font-size:.75rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.fact dd{margin:0;font-weight:600;font-variant-numeric:tabular-nums}
.sub{display:block;font-weight:400;font-size:.78rem;color:var(--muted)}
.controls{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;position:sticky;top:0;z-index:2;
background:var(--bg);padding:.5rem 0;border-bottom:1px solid var(--line)}
.controls[hidden]{display:none}
.toggle{font-weight:600;cursor:pointer}
.search input{font:inherit;padding:.25rem .5rem;border:1px solid var(--line);border-radius:4px;
min-width:16rem}
input:focus-visible,a:focus-visible,.scroll:focus-visible,summary:focus-visible{
outline:2px solid var(--accent);outline-offset:2px}
main{padding-top:1rem}
section.test{border:1px solid var(--line);border-radius:8px;padding:1rem;margin:0 0 1.25rem}
section.test[data-status=fail]{border-left:5px solid var(--fail)}
section.test[data-status=pass]{border-left:5px solid var(--pass)}
.test-id{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.95rem;
word-break:break-all}
.failures{background:var(--fail-bg);border:1px solid var(--fail-line);border-radius:8px;
padding:1rem;margin:0 0 1.25rem}
.failure-item summary{cursor:pointer;font-family:ui-monospace,Menlo,Consolas,monospace}
.failure-text{background:#fff;border:1px solid var(--fail-line);border-radius:4px;padding:.6rem;
max-height:24rem;overflow:auto}
.badge{display:inline-block;font-size:.75rem;font-weight:600;padding:.05rem .45rem;
border-radius:999px;border:1px solid;white-space:nowrap;font-family:system-ui,sans-serif}
.badge.pass{color:var(--pass);background:var(--pass-bg);border-color:var(--pass-line)}
.badge.fail{color:var(--fail);background:var(--fail-bg);border-color:var(--fail-line)}
.badge.unchecked{color:var(--muted);background:var(--neutral-bg);border-color:var(--line)}
.badge.inconclusive{color:var(--warn);background:var(--warn-bg);border-color:var(--warn-line)}
.muted{color:var(--muted)}.small{font-size:.8rem;font-weight:400}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
.scroll{overflow-x:auto;max-width:100%;margin:.25rem 0 .75rem}
table{border-collapse:collapse}
caption{text-align:left;font-size:.8rem;color:var(--muted);padding:0 0 .3rem}
th,td{border:1px solid var(--line);padding:.35rem .55rem;text-align:left;vertical-align:top}
thead th{background:var(--panel);font-size:.85rem}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.configs td.mono{white-space:nowrap}
table.configs td.pass{color:var(--pass)}table.configs td.fail{color:var(--fail);font-weight:600}
table.configs td.inconclusive{color:var(--warn);font-weight:600}
.rate{display:inline-flex;align-items:center;gap:.4rem;white-space:nowrap}
.bar{display:inline-block;width:3.5rem;height:.5rem;background:var(--neutral-bg);
border:1px solid var(--line);border-radius:3px;overflow:hidden}
.fill{display:block;height:100%}.fill.pass{background:var(--pass)}.fill.fail{background:var(--fail)}
.fill.inconclusive{background:var(--warn)}
table.matrix{table-layout:auto}
table.matrix .corner{color:var(--muted);font-weight:400}
.config-head{min-width:14rem}
.input-head{background:var(--panel);min-width:9rem;max-width:16rem}
.input-id{font-weight:600;font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.vars{margin:.3rem 0 0;font-size:.8rem;font-weight:400}
.vars dt{color:var(--muted)}.vars dd{margin:0 0 .2rem;white-space:pre-wrap;word-break:break-word;
display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden}
td.cell{min-width:14rem;max-width:34rem;background:var(--neutral-bg)}
td.cell.pass{background:var(--pass-bg)}td.cell.fail{background:var(--fail-bg)}
td.cell.inconclusive{background:var(--warn-bg)}
.cell-head{display:flex;justify-content:space-between;gap:.5rem;align-items:center;
margin-bottom:.35rem;flex-wrap:wrap}
ol.samples{list-style:none;margin:0;padding:0;display:grid;gap:.4rem}
li.sample{background:#fff;border:1px solid var(--line);border-left:4px solid var(--line);
border-radius:4px;padding:.35rem .5rem}
li.sample.pass{border-left-color:var(--pass)}li.sample.fail{border-left-color:var(--fail)}
.sample-head{display:flex;gap:.5rem;align-items:baseline;flex-wrap:wrap;margin-bottom:.2rem}
.mark{font-size:.78rem;font-weight:600;white-space:nowrap}
.mark.pass{color:var(--pass)}.mark.fail{color:var(--fail)}.mark.unchecked{color:var(--muted)}
pre{margin:0;white-space:pre-wrap;word-break:break-word;
font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.82rem}
pre.output{font-family:inherit;font-size:.88rem}
.tool-call{margin-top:.25rem;border:1px dashed var(--line);border-radius:4px;padding:.25rem .4rem;
background:#fbfbfd}
.tool-label{font-size:.72rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.tool-name{font-weight:600;color:#6b3fa0}
.tool-args{margin-top:.15rem;color:#333}
.sample-failure{margin:.3rem 0 0;color:var(--fail);font-size:.82rem;white-space:pre-wrap;
word-break:break-word}
.sample-failure::before{content:"Check failed: ";font-weight:600}
details.prompt{margin-top:.4rem;font-size:.8rem}
details.prompt summary{cursor:pointer;color:var(--muted)}
details.prompt ol{margin:.25rem 0 0;padding-left:1.2rem}
.role{font-weight:600;color:var(--muted);font-size:.75rem;text-transform:uppercase}
details.transcript{margin-top:.4rem;font-size:.85rem}
details.reasoning{margin-top:.3rem;font-size:.8rem}
details.reasoning summary{cursor:pointer;color:var(--muted);font-style:italic}
pre.reasoning{color:var(--muted);white-space:pre-wrap}
details.transcript summary{cursor:pointer;color:var(--muted)}
ol.turns{list-style:none;margin:.3rem 0 0;padding:0;display:grid;gap:.3rem}
li.turn{border-left:3px solid var(--line);padding:.1rem 0 .1rem .5rem}
li.turn.user{border-left-color:var(--accent)}li.turn.final{border-left-color:var(--fg)}
.turn-head{display:flex;gap:.5rem;align-items:baseline;flex-wrap:wrap}
.tool-result{margin-top:.25rem;border:1px solid var(--line);border-radius:4px;
padding:.25rem .4rem;background:var(--panel)}
.tool-result.error{border-color:var(--fail-line);background:var(--fail-bg)}
.tool-out{margin-top:.15rem;max-height:16rem;overflow:auto}
.layout{display:block}
@media (min-width:1000px){
.layout{display:grid;grid-template-columns:15rem minmax(0,1fr);gap:1.25rem}
#toc{position:sticky;top:3.4rem;align-self:start;max-height:calc(100vh - 4rem);overflow:auto}}
#toc{font-size:.85rem;padding-top:1rem}
#toc summary{cursor:pointer;font-weight:600}
#toc ol{list-style:none;margin:.3rem 0;padding-left:0}#toc ol ol{padding-left:1rem}
#toc li{margin:.15rem 0;overflow-wrap:anywhere}#toc a{text-decoration:none}
#toc a:hover{text-decoration:underline}
.dot{display:inline-block;width:.6rem;height:.6rem;border-radius:50%;margin-right:.35rem;
background:var(--line)}
.dot.pass{background:var(--pass)}.dot.fail{background:var(--fail)}
.dot.inconclusive{background:var(--warn)}
.filters{display:flex;flex-wrap:wrap;gap:.75rem;align-items:center;color:var(--muted)}
.filters .toggle{color:var(--fg)}
details.items{margin:0 0 .5rem;font-size:.85rem}details.items summary{cursor:pointer}
details.items ul{margin:.25rem 0;padding-left:1.2rem}
details.configs-box>summary{cursor:pointer;font-size:.85rem;color:var(--muted)}
.facts{white-space:normal}
.preview{margin:.15rem 0 .2rem;font-size:.86rem;white-space:pre-wrap;word-break:break-word;
display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;overflow:hidden}
details.more{font-size:.85rem}
details.more>summary{cursor:pointer;color:var(--accent);font-size:.78rem}
details.more[open]>summary{margin-bottom:.3rem}
button.more{font:inherit;font-size:.78rem;color:var(--accent);background:none;border:0;padding:0;
cursor:pointer;text-align:left}
button.more::before{content:"\\25B8\\a0"}
button.more[aria-expanded=true]::before{content:"\\25BE\\a0"}
.more-body{margin-top:.3rem;font-size:.85rem}
.badge.changed{color:#5b2a9a;background:#f1e9fb;border-color:#cdb4ee}
.badge.differs{color:#0b5f6b;background:#e3f4f6;border-color:#9fd4db}
.cell-head .badge+.badge{margin-left:-.2rem}
.before-after{display:grid;gap:.4rem;margin:0 0 .4rem}
.ba{background:#fff;border:1px solid #cdb4ee;border-radius:4px;padding:.3rem .4rem}
.ba-head{color:#5b2a9a;font-weight:600;margin-bottom:.2rem}
.ba-pair{display:grid;grid-template-columns:1fr 1fr;gap:.4rem}
.ba-old,.ba-new{border-radius:3px;padding:.25rem .35rem;min-width:0}
.ba-old{background:var(--fail-bg)}.ba-new{background:var(--pass-bg)}
.ba-label{display:block;font-size:.7rem;text-transform:uppercase;letter-spacing:.04em;
color:var(--muted)}
.hide{display:none!important}
@media (max-width:700px){.controls{position:static;gap:.5rem}.search input{min-width:10rem}}
@media print{.controls{display:none}}
"""
