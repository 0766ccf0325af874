"""The HTML viewer's inline script: the filters, the search box, the contents' counts, and
opening a row's cells together so their answers read side by side.

It works on classes only. Each row's filter marks are classes the page was rendered with
(``_html_matrix``); a filter is a class on the page's root that the style sheet turns into
hidden rows, and the script hides the experiments and tests a filter empties. The text a search
looks in is read once, on the first search, through ``textContent``.
A row's state changes only when it differs, so a filter over 10,000 cells touches the rows that
change and nothing else. On a large page (``_html.LAZY_CELLS``) a cell's detail is the page's
own markup carried as JSON, inserted the first time the cell is opened.
"""

from __future__ import annotations

__all__ = ["JS"]

JS = """
(function(){
"use strict";
var root=document.documentElement,controls=document.getElementById("controls");
var search=document.getElementById("search"),status=document.getElementById("filter-status");
var none=document.getElementById("no-match");
if(!controls||!search||!status||!none){return;}
controls.hidden=false;
var boxes=controls.querySelectorAll("input[data-root]");
var tests=document.querySelectorAll("section.test");
var exps=[],expTest=[],rows=[],rowExp=[];
for(var t=0;t<tests.length;t++){
  var inTest=tests[t].querySelectorAll("section.experiment");
  for(var e=0;e<inTest.length;e++){
    var trs=inTest[e].getElementsByClassName("case-row");
    for(var r=0;r<trs.length;r++){rows.push(trs[r]);rowExp.push(exps.length);}
    exps.push(inTest[e]);expTest.push(t);
  }
}
function entry(id){return document.querySelector('#toc li[data-for="'+id+'"]');}
var expCount=[],expTotal=[],expOriginal=[],expEntry=[],testEntry=[];
for(var x=0;x<exps.length;x++){
  var count=document.querySelector('#toc .toc-count[data-matrix="'+exps[x].id+'"]');
  expCount.push(count);expOriginal.push(count?count.textContent:"");
  expTotal.push(exps[x].getElementsByClassName("case-row").length);expEntry.push(entry(exps[x].id));
}
for(var y=0;y<tests.length;y++){testEntry.push(entry(tests[y].id));}
var rowText=null,expText=null,testText=null;
function low(node){return node?node.textContent.toLowerCase():"";}
// The text of a detail's markup, for the search only: it is the page's own, with the five
// characters Python's html.escape writes.
var entities={"&lt;":"<","&gt;":">","&quot;":'"',"&#x27;":"'","&amp;":"&"};
function unmark(markup){
  return markup.replace(/<[^>]*>/g," ").replace(/&(lt|gt|quot|#x27|amp);/g,function(m){
    return entities[m];
  }).toLowerCase();
}
function texts(){
  rowText=[];expText=[];testText=[];
  for(var i=0;i<rows.length;i++){
    var text=low(rows[i]),lazies=rows[i].querySelectorAll("button.more[data-lazy]");
    for(var n=0;n<lazies.length;n++){
      var built=lazies[n].nextElementSibling;
      if(built===null||!built.classList.contains("more-body")){
        text+=" "+unmark(lazy[+lazies[n].getAttribute("data-lazy")]||"");
      }
    }
    rowText.push(text);
  }
  for(var j=0;j<exps.length;j++){
    expText.push(low(exps[j].querySelector("h3"))+" "+low(exps[j].querySelector("thead")));
  }
  for(var k=0;k<tests.length;k++){testText.push(low(tests[k].querySelector("h2")));}
}
function hide(node,hidden){
  if(node.classList.contains("hide")!==hidden){node.classList.toggle("hide",hidden);}
}
function apply(){
  var marks=[];
  for(var b=0;b<boxes.length;b++){
    root.classList.toggle(boxes[b].getAttribute("data-root"),boxes[b].checked);
    if(boxes[b].checked){marks.push(boxes[b].getAttribute("data-mark"));}
  }
  var q=search.value.trim().toLowerCase(),active=marks.length>0||q.length>0;
  if(q&&rowText===null){
    if(lazy===null&&document.getElementById("cell-details")){unpack().then(apply);return;}
    texts();
  }
  var testHit=[],expHit=[];
  for(var t=0;t<tests.length;t++){testHit.push(!!q&&testText[t].indexOf(q)>=0);}
  for(var e=0;e<exps.length;e++){
    expHit.push(!!q&&(testHit[expTest[e]]||expText[e].indexOf(q)>=0));
  }
  var perExp=new Array(exps.length).fill(0),shown=0;
  for(var i=0;i<rows.length;i++){
    var ok=true,cl=rows[i].classList;
    for(var m=0;m<marks.length;m++){if(!cl.contains(marks[m])){ok=false;break;}}
    if(ok&&q&&!expHit[rowExp[i]]){ok=rowText[i].indexOf(q)>=0;}
    hide(rows[i],!ok);
    if(ok){shown++;perExp[rowExp[i]]++;}
  }
  var perTest=new Array(tests.length).fill(0);
  for(var x=0;x<exps.length;x++){
    var empty=active&&perExp[x]===0;
    hide(exps[x],empty);
    if(!empty){perTest[expTest[x]]++;}
    if(expCount[x]){
      expCount[x].textContent=active?perExp[x]+"/"+expTotal[x]+" rows":expOriginal[x];
    }
    if(expEntry[x]){hide(expEntry[x],empty);}
  }
  var anyTest=false;
  for(var y=0;y<tests.length;y++){
    var bare=tests[y].querySelector("section.experiment")===null;
    var keep=!active||perTest[y]>0||(bare&&marks.length===0&&testHit[y]);
    hide(tests[y],!keep);
    anyTest=anyTest||keep;
    if(testEntry[y]){hide(testEntry[y],!keep);}
  }
  status.textContent=active?shown+" of "+rows.length+" input rows shown":"";
  none.hidden=!active||anyTest;
}
for(var b=0;b<boxes.length;b++){boxes[b].addEventListener("change",apply);}
search.addEventListener("input",apply);
document.addEventListener("keydown",function(ev){
  if(ev.key==="/"&&document.activeElement!==search){ev.preventDefault();search.focus();}
});
// A large page carries its cells' details as data (the page's own markup, escaped when it was
// rendered): a cell's is added the first time it is opened.
var lazy=null,unpacking=null;
function unpack(){
  if(unpacking===null){
    var data=document.getElementById("cell-details");
    if(!data){lazy=[];unpacking=Promise.resolve(lazy);return unpacking;}
    var raw=atob(data.textContent.trim()),bytes=new Uint8Array(raw.length);
    for(var i=0;i<raw.length;i++){bytes[i]=raw.charCodeAt(i);}
    var stream=new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    unpacking=new Response(stream).text().then(function(text){lazy=JSON.parse(text);return lazy;});
  }
  return unpacking;
}
function opened(button,open){
  var body=button.nextElementSibling;
  var built=body!==null&&body.classList.contains("more-body");
  button.setAttribute("aria-expanded",open?"true":"false");
  if(built){body.hidden=!open;return;}
  if(!open){return;}
  unpack().then(function(all){
    if(button.nextElementSibling&&button.nextElementSibling.classList.contains("more-body")){return;}
    var div=document.createElement("div");
    div.className="more-body";
    div.insertAdjacentHTML("beforeend",all[+button.getAttribute("data-lazy")]||"");
    div.hidden=button.getAttribute("aria-expanded")!=="true";
    button.insertAdjacentElement("afterend",div);
  });
}
// A cell opened opens its row: the configs' answers side by side.
document.addEventListener("click",function(ev){
  var button=ev.target.closest?ev.target.closest("button.more[data-lazy]"):null;
  if(!button){return;}
  var open=button.getAttribute("aria-expanded")!=="true",row=button.closest("tr");
  var all=row?row.querySelectorAll("button.more[data-lazy]"):[button];
  for(var i=0;i<all.length;i++){opened(all[i],open);}
});
document.addEventListener("toggle",function(ev){
  var d=ev.target;
  if(!d.classList||!d.classList.contains("more")){return;}
  var row=d.closest("tr");
  if(!row){return;}
  var all=row.querySelectorAll("details.more");
  for(var i=0;i<all.length;i++){if(all[i].open!==d.open){all[i].open=d.open;}}
},true);
var restored=search.value.length>0;
for(var s=0;s<boxes.length;s++){restored=restored||boxes[s].checked;}
if(restored){apply();}
})();
"""
